//! The backend's router and server.

use std::time::Duration;

use axum::{Router, extract::DefaultBodyLimit, http::StatusCode, middleware};
use tokio::net::TcpListener;
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer};

use crate::{config::Config, error, routes, store::Store};

/// Body limit of every route but `/api/events` (see [`routes::EVENTS_BODY_LIMIT_BYTES`]).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
}

/// The whole HTTP surface: API routes, JSON fallbacks, and the seatbelts
/// (timeout, body limit, panic → 500 JSON).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    routes::router()
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .merge(telemetry::ops::router())
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // Outside the timeout, so its empty 408 gets a JSON body too.
        .layer(middleware::map_response(error::ensure_json_errors))
        .layer(CatchPanicLayer::custom(error::panic_response))
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, config.database_max_connections).await?;
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        context = "Bootstrap",
        database = store.engine().as_str(),
        "Backend running on http://{addr}"
    );
    let app = router(
        AppState {
            store: store.clone(),
        },
        config.request_timeout,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(telemetry::shutdown::signal())
        .await?;
    store.close().await;
    Ok(())
}
