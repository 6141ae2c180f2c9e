//! The `/api` routes, one module per resource.

mod events;
mod guilds;
mod members;
mod moderation;
mod privacy;
mod stats;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};

pub use moderation::MODERATION_ACTIONS;
pub use privacy::ERASURES;
pub use stats::parse_window;

use crate::app::AppState;

/// `/api/events` takes batches of up to 1000 events: a larger body limit.
pub const EVENTS_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/guilds/{id}", get(guilds::get).put(guilds::put))
        .route("/api/guilds/{id}/members", get(members::list))
        .route(
            "/api/guilds/{id}/moderation",
            get(moderation::list).post(moderation::create),
        )
        .route("/api/guilds/{id}/stats", get(stats::get))
        .route("/api/privacy/erasures", post(privacy::erase))
        .route(
            "/api/events",
            post(events::ingest).layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT_BYTES)),
        )
}
