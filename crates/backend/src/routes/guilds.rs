//! `GET/PUT /api/guilds/{id}`.

use axum::{Json, extract::State};

use json_api::ApiJson;

use crate::{
    app::AppState,
    error::ApiError,
    extract::GuildId,
    model::{Guild, PutGuild, now_ms},
};

pub async fn get(
    State(state): State<AppState>,
    GuildId(id): GuildId,
) -> Result<Json<Guild>, ApiError> {
    state
        .store
        .get_guild(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("guild {id} not found")))
}

pub async fn put(
    State(state): State<AppState>,
    GuildId(id): GuildId,
    ApiJson(body): ApiJson<PutGuild>,
) -> Result<Json<Guild>, ApiError> {
    body.validate()?;
    let guild = state
        .store
        .put_guild(id, &body.name, body.settings.as_ref(), now_ms())
        .await?;
    Ok(Json(guild))
}
