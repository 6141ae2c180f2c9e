//! `POST/GET /api/guilds/{id}/moderation`: moderation actions.

use std::sync::LazyLock;

use axum::{Json, extract::State, http::StatusCode};
use telemetry::metrics::CounterVec;

use super::members::next_cursor;
use json_api::ApiJson;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{GuildId, QueryParams},
    model::{ModerationAction, NewModerationAction, Page, now_ms},
};

/// Moderation actions recorded, by action.
pub static MODERATION_ACTIONS: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "moderation_actions_total",
        "Moderation actions recorded, by action",
        &["action"],
    )
});

pub async fn create(
    State(state): State<AppState>,
    GuildId(guild): GuildId,
    ApiJson(body): ApiJson<NewModerationAction>,
) -> Result<(StatusCode, Json<ModerationAction>), ApiError> {
    body.validate()?;
    let action = state
        .store
        .insert_moderation_action(guild, &body, now_ms())
        .await?;
    MODERATION_ACTIONS
        .with_label_values(&[action.action.as_str()])
        .inc();
    // Who (the moderator), where (the guild), what (the action, its target):
    // the audit line the cookbook's moderation queries select.
    tracing::info!(
        context = "Moderation",
        guild_id = %guild,
        user_id = %action.moderator_id,
        target_id = %action.target_id,
        action = action.action.as_str(),
        moderation_id = %action.id,
        "moderation action {} recorded",
        action.action.as_str()
    );
    Ok((StatusCode::CREATED, Json(action)))
}

pub async fn list(
    State(state): State<AppState>,
    GuildId(guild): GuildId,
    query: QueryParams,
) -> Result<Json<Page<ModerationAction>>, ApiError> {
    let target = query.snowflake("target")?;
    let before = query.snowflake("cursor")?;
    let limit = query.limit()?;
    let mut items = state
        .store
        .list_moderation_actions(guild, target, before, limit + 1)
        .await?;
    let next_cursor = next_cursor(&mut items, limit, |action| action.id.to_string());
    Ok(Json(Page { items, next_cursor }))
}
