//! The gateway's routes: events from the bot, the API proxied to the backend.

mod events;
mod proxy;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{any, post},
};

use crate::{app::AppState, auth};

/// 1000 events take about 150 KiB; leave room.
pub const EVENTS_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Every route here requires an API key (see [`auth::require_api_key`]).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/events",
            post(events::accept).layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT_BYTES)),
        )
        .route("/api/{*path}", any(proxy::forward))
        .route_layer(middleware::from_fn_with_state(state, auth::require_api_key))
}
