//! `guilds`: a name and free-form settings per Discord guild.

use serde_json::{Map, Value};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError};
use crate::{model::Guild, snowflake::Snowflake};

fn guild_from_row(row: &AnyRow) -> Result<Guild, StoreError> {
    let settings: String = row.try_get("settings")?;
    let settings: Map<String, Value> = serde_json::from_str(&settings)
        .map_err(|error| StoreError::Corrupt(format!("guild settings: {error}")))?;
    Ok(Guild {
        id: Snowflake::from_db(row.try_get("id")?),
        name: row.try_get("name")?,
        settings,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn get_guild(&self, id: Snowflake) -> Result<Option<Guild>, StoreError> {
        let row = self
            .timed(
                "get_guild",
                "SELECT",
                "guilds",
                sqlx::query(
                    "SELECT id, name, settings, created_at, updated_at FROM guilds WHERE id = $1",
                )
                .bind(id.get())
                .fetch_optional(self.pool()),
            )
            .await?;
        row.as_ref().map(guild_from_row).transpose()
    }

    /// Creates or updates; `settings: None` keeps the stored settings (or
    /// `{}` for a new guild).
    pub async fn put_guild(
        &self,
        id: Snowflake,
        name: &str,
        settings: Option<&Map<String, Value>>,
        now_ms: i64,
    ) -> Result<Guild, StoreError> {
        let replace_settings = i64::from(settings.is_some());
        let settings = Value::Object(settings.cloned().unwrap_or_default()).to_string();
        let row = self
            .timed(
                "put_guild",
                "INSERT",
                "guilds",
                sqlx::query(
                    "INSERT INTO guilds (id, name, settings, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (id) DO UPDATE SET \
                       name = excluded.name, \
                       settings = CASE WHEN $5 = 1 THEN excluded.settings ELSE guilds.settings END, \
                       updated_at = excluded.updated_at \
                     RETURNING id, name, settings, created_at, updated_at",
                )
                .bind(id.get())
                .bind(name)
                .bind(settings)
                .bind(now_ms)
                .bind(replace_settings)
                .fetch_one(self.pool()),
            )
            .await?;
        guild_from_row(&row)
    }
}
