//! `members`: who was seen in a guild, when first and last, and when they
//! left. Maintained from ingested events.

use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError};
use crate::{
    model::{EventType, Member},
    snowflake::Snowflake,
};

impl Store {
    /// Members by ascending user id, after `after` (the cursor).
    pub async fn list_members(
        &self,
        guild: Snowflake,
        after: Option<Snowflake>,
        limit: i64,
    ) -> Result<Vec<Member>, StoreError> {
        let rows = self
            .timed(
                "list_members",
                "SELECT",
                "members",
                sqlx::query(
                    "SELECT user_id, first_seen, last_seen, left_at FROM members \
                     WHERE guild_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
                )
                .bind(guild.get())
                .bind(after.map_or(0, Snowflake::get))
                .bind(limit)
                .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Member {
                    user_id: Snowflake::from_db(row.try_get("user_id")?),
                    first_seen: row.try_get("first_seen")?,
                    last_seen: row.try_get("last_seen")?,
                    left_at: row.try_get("left_at")?,
                })
            })
            .collect()
    }
}

/// Records that `user` was seen in `guild` at `at` through an event of
/// `kind`. Events may arrive out of order: first/last seen only widen, and a
/// join clears `left_at` only if it is later than the leave.
pub(super) async fn record_seen(
    tx: &mut Transaction<'static, Any>,
    kind: EventType,
    guild: Snowflake,
    user: Snowflake,
    at: i64,
) -> Result<(), sqlx::Error> {
    let sql = match kind {
        EventType::MemberJoin => {
            "INSERT INTO members (guild_id, user_id, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (guild_id, user_id) DO UPDATE SET \
               first_seen = CASE WHEN excluded.first_seen < members.first_seen THEN excluded.first_seen ELSE members.first_seen END, \
               last_seen = CASE WHEN excluded.last_seen > members.last_seen THEN excluded.last_seen ELSE members.last_seen END, \
               left_at = CASE WHEN members.left_at > excluded.last_seen THEN members.left_at ELSE NULL END"
        }
        EventType::MemberLeave | EventType::BanAdd => {
            "INSERT INTO members (guild_id, user_id, first_seen, last_seen, left_at) VALUES ($1, $2, $3, $3, $3) \
             ON CONFLICT (guild_id, user_id) DO UPDATE SET \
               last_seen = CASE WHEN excluded.last_seen > members.last_seen THEN excluded.last_seen ELSE members.last_seen END, \
               left_at = CASE WHEN members.left_at > excluded.left_at THEN members.left_at ELSE excluded.left_at END"
        }
        EventType::MessageCreate => {
            "INSERT INTO members (guild_id, user_id, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (guild_id, user_id) DO UPDATE SET \
               first_seen = CASE WHEN excluded.first_seen < members.first_seen THEN excluded.first_seen ELSE members.first_seen END, \
               last_seen = CASE WHEN excluded.last_seen > members.last_seen THEN excluded.last_seen ELSE members.last_seen END"
        }
    };
    sqlx::query(sql)
        .bind(guild.get())
        .bind(user.get())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
