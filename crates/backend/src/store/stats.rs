//! Aggregates over a time window: events counted and moderation actions.

use sqlx::Row;

use super::{Store, StoreError};
use crate::{
    model::{Action, ActionCounts, Stats},
    snowflake::Snowflake,
};

impl Store {
    /// Counts since `since_ms` (inclusive, to the minute for events).
    pub async fn guild_stats(
        &self,
        guild: Snowflake,
        since_ms: i64,
        window_seconds: i64,
    ) -> Result<Stats, StoreError> {
        // SUM over BIGINT is NUMERIC in PostgreSQL: cast back for `Any`.
        let event_rows = self
            .timed(
                "guild_stats",
                "SELECT",
                "event_counts",
                sqlx::query(
                    "SELECT event_type, CAST(SUM(count) AS BIGINT) AS total FROM event_counts \
                     WHERE guild_id = $1 AND minute >= $2 GROUP BY event_type",
                )
                .bind(guild.get())
                .bind(since_ms.div_euclid(60_000))
                .fetch_all(self.pool()),
            )
            .await?;
        let action_rows = self
            .timed(
                "guild_stats",
                "SELECT",
                "moderation_actions",
                sqlx::query(
                    "SELECT action, COUNT(*) AS total FROM moderation_actions \
                     WHERE guild_id = $1 AND created_at >= $2 GROUP BY action",
                )
                .bind(guild.get())
                .bind(since_ms)
                .fetch_all(self.pool()),
            )
            .await?;
        let mut stats = Stats {
            guild_id: guild,
            window_seconds,
            members_joined: 0,
            members_left: 0,
            messages: 0,
            actions: ActionCounts::default(),
        };
        for row in &event_rows {
            let kind: String = row.try_get("event_type")?;
            let total: i64 = row.try_get("total")?;
            match kind.as_str() {
                "member_join" => stats.members_joined += total,
                "member_leave" => stats.members_left += total,
                "message_create" => stats.messages += total,
                _ => {}
            }
        }
        for row in &action_rows {
            let action: String = row.try_get("action")?;
            let total: i64 = row.try_get("total")?;
            match Action::parse(&action) {
                Some(Action::Warn) => stats.actions.warn += total,
                Some(Action::Timeout) => stats.actions.timeout += total,
                Some(Action::Kick) => stats.actions.kick += total,
                Some(Action::Ban) => stats.actions.ban += total,
                None => {}
            }
        }
        Ok(stats)
    }
}
