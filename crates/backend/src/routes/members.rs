//! `GET /api/guilds/{id}/members?cursor=&limit=`: members by user id.

use axum::{Json, extract::State};

use crate::{
    app::AppState,
    error::ApiError,
    extract::{GuildId, QueryParams},
    model::{Member, Page},
};

pub async fn list(
    State(state): State<AppState>,
    GuildId(guild): GuildId,
    query: QueryParams,
) -> Result<Json<Page<Member>>, ApiError> {
    let after = query.snowflake("cursor")?;
    let limit = query.limit()?;
    // One extra row tells whether another page exists.
    let mut items = state.store.list_members(guild, after, limit + 1).await?;
    let next_cursor = next_cursor(&mut items, limit, |member| member.user_id.to_string());
    Ok(Json(Page { items, next_cursor }))
}

/// Trims the extra row fetched past `limit` and returns the cursor of the
/// last row kept when there is a next page.
pub(super) fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(cursor_of)
}
