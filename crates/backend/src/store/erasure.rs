//! Erasure of one user's personal data, in one transaction: their member
//! rows (every guild) are deleted, and their moderation entries keep
//! existing under their pseudonym (see [`crate::pseudonym`]), so a guild's
//! action counts stay right. The reason of an entry that targets them is
//! replaced by [`ERASED_REASON`]: it describes them. An entry where they were
//! the moderator keeps its reason, which is about the target (another
//! person's record, not theirs).
//!
//! `user_id` and `moderator_id` have no index of their own (the members key
//! starts with the guild): an erasure scans both tables, which is fine for a
//! rare, operator-driven call and spares an index update on every event.

use super::{Store, StoreError};
use crate::{model::ErasureReport, snowflake::Snowflake};

/// What replaces the reason of an entry that targeted an erased user.
pub const ERASED_REASON: &str = "[erased]";

impl Store {
    /// Erases `user`'s personal data; idempotent (a second call changes
    /// nothing and reports zeros).
    pub async fn erase_user(&self, user: Snowflake) -> Result<ErasureReport, StoreError> {
        let pseudonym = self.pseudonyms.of(user);
        let mut tx = self
            .timed("erase_user", "BEGIN", "members", self.pool().begin())
            .await?;
        let members_deleted = self
            .timed(
                "erase_user",
                "DELETE",
                "members",
                sqlx::query("DELETE FROM members WHERE user_id = $1")
                    .bind(user.get())
                    .execute(&mut *tx),
            )
            .await?
            .rows_affected();
        let moderation_actions_as_target = self
            .timed(
                "erase_user",
                "UPDATE",
                "moderation_actions",
                sqlx::query(
                    "UPDATE moderation_actions SET target_id = $2, reason = $3 WHERE target_id = $1",
                )
                .bind(user.get())
                .bind(pseudonym.get())
                .bind(ERASED_REASON)
                .execute(&mut *tx),
            )
            .await?
            .rows_affected();
        let moderation_actions_as_moderator = self
            .timed(
                "erase_user",
                "UPDATE",
                "moderation_actions",
                sqlx::query(
                    "UPDATE moderation_actions SET moderator_id = $2 WHERE moderator_id = $1",
                )
                .bind(user.get())
                .bind(pseudonym.get())
                .execute(&mut *tx),
            )
            .await?
            .rows_affected();
        self.timed("erase_user", "COMMIT", "members", tx.commit())
            .await?;
        Ok(ErasureReport {
            pseudonym,
            members_deleted,
            moderation_actions_as_target,
            moderation_actions_as_moderator,
        })
    }
}
