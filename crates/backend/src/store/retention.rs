//! Deletes of rows past their retention, one bounded batch per call (each
//! its own short transaction, so a large backlog never holds a long lock).
//!
//! The filters (`members.last_seen`, `moderation_actions.created_at`) have no
//! index across guilds: a batch scans the table until it has its rows. At
//! one run an hour that is cheaper than an index updated on every event.

use super::{Store, StoreError};

/// A table the retention job bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainedTable {
    /// Members not seen (no event) since the cutoff.
    Members,
    /// Moderation entries created before the cutoff.
    ModerationActions,
}

impl RetainedTable {
    pub const ALL: [Self; 2] = [Self::Members, Self::ModerationActions];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::ModerationActions => "moderation_actions",
        }
    }

    fn delete_batch_sql(self) -> &'static str {
        // Row values and `IN (SELECT … LIMIT)`: the same SQL on SQLite and
        // PostgreSQL (neither has a portable `DELETE … LIMIT`).
        match self {
            Self::Members => {
                "DELETE FROM members WHERE (guild_id, user_id) IN \
                 (SELECT guild_id, user_id FROM members WHERE last_seen < $1 LIMIT $2)"
            }
            Self::ModerationActions => {
                "DELETE FROM moderation_actions WHERE id IN \
                 (SELECT id FROM moderation_actions WHERE created_at < $1 LIMIT $2)"
            }
        }
    }
}

impl Store {
    /// Deletes at most `limit` rows of `table` older than `cutoff_ms`;
    /// returns how many were deleted.
    pub async fn delete_expired(
        &self,
        table: RetainedTable,
        cutoff_ms: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let result = self
            .timed(
                match table {
                    RetainedTable::Members => "expire_members",
                    RetainedTable::ModerationActions => "expire_moderation_actions",
                },
                "DELETE",
                table.as_str(),
                sqlx::query(table.delete_batch_sql())
                    .bind(cutoff_ms)
                    .bind(limit)
                    .execute(self.pool()),
            )
            .await?;
        Ok(result.rows_affected())
    }
}
