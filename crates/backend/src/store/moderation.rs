//! `moderation_actions`: warn/timeout/kick/ban records, newest first.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError};
use crate::{
    model::{Action, ModerationAction, NewModerationAction},
    snowflake::Snowflake,
};

fn action_from_row(row: &AnyRow) -> Result<ModerationAction, StoreError> {
    let action: String = row.try_get("action")?;
    Ok(ModerationAction {
        id: Snowflake::from_db(row.try_get("id")?),
        guild_id: Snowflake::from_db(row.try_get("guild_id")?),
        action: Action::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown action {action:?}")))?,
        moderator_id: Snowflake::from_db(row.try_get("moderator_id")?),
        target_id: Snowflake::from_db(row.try_get("target_id")?),
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn insert_moderation_action(
        &self,
        guild: Snowflake,
        new: &NewModerationAction,
        now_ms: i64,
    ) -> Result<ModerationAction, StoreError> {
        // Ids are generated here (see `IdGenerator`); another replica may
        // pick the same one with a negligible probability: try once more.
        let mut attempt = 0;
        loop {
            let record = ModerationAction {
                id: self.ids.next(now_ms),
                guild_id: guild,
                action: new.action,
                moderator_id: new.moderator_id,
                target_id: new.target_id,
                reason: new.reason.clone(),
                created_at: now_ms,
            };
            let result = self
                .timed(
                    "insert_moderation_action",
                    "INSERT",
                    "moderation_actions",
                    sqlx::query(
                        "INSERT INTO moderation_actions \
                         (id, guild_id, action, moderator_id, target_id, reason, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(record.id.get())
                    .bind(guild.get())
                    .bind(record.action.as_str())
                    .bind(record.moderator_id.get())
                    .bind(record.target_id.get())
                    .bind(record.reason.as_str())
                    .bind(now_ms)
                    .execute(self.pool()),
                )
                .await;
            match result {
                Ok(_) => return Ok(record),
                Err(error) if error.is_unique_violation() && attempt == 0 => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Newest first, optionally for one target, strictly older than `before`.
    pub async fn list_moderation_actions(
        &self,
        guild: Snowflake,
        target: Option<Snowflake>,
        before: Option<Snowflake>,
        limit: i64,
    ) -> Result<Vec<ModerationAction>, StoreError> {
        // 0 stands for "any target": a typed sentinel rather than a NULL
        // parameter, whose type PostgreSQL cannot infer.
        let rows = self
            .timed(
                "list_moderation_actions",
                "SELECT",
                "moderation_actions",
                sqlx::query(
                    "SELECT id, guild_id, action, moderator_id, target_id, reason, created_at \
                     FROM moderation_actions \
                     WHERE guild_id = $1 AND ($2 = 0 OR target_id = $2) AND id < $3 \
                     ORDER BY id DESC LIMIT $4",
                )
                .bind(guild.get())
                .bind(target.map_or(0, Snowflake::get))
                .bind(before.map_or(i64::MAX, Snowflake::get))
                .bind(limit)
                .fetch_all(self.pool()),
            )
            .await?;
        rows.iter().map(action_from_row).collect()
    }
}
