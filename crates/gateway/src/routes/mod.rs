//! The gateway's routes: events from the bot, the API proxied to the backend.

mod events;
mod proxy;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{any, post},
};

use crate::{
    app::AppState,
    auth::{self, ScopeGuard},
    scope::Scope,
};

/// 1000 events take about 150 KiB; leave room.
pub const EVENTS_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Every route here requires an API key with the route's scope (see
/// [`auth::require_scope`]).
pub fn router(state: &AppState) -> Router<AppState> {
    let guard = |scope| {
        middleware::from_fn_with_state(
            ScopeGuard {
                auth: state.auth.clone(),
                scope,
            },
            auth::require_scope,
        )
    };
    let events = Router::new()
        .route(
            "/events",
            post(events::accept).layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT_BYTES)),
        )
        .route_layer(guard(Scope::Events));
    let api = Router::new()
        .route("/api/{*path}", any(proxy::forward))
        .route_layer(guard(Scope::Api));
    events.merge(api)
}
