//! The gateway's router and server.

use std::{sync::Arc, time::Duration};

use axum::Router;
use telemetry::{
    Ops,
    health::{Criticality, http_check},
};
use tokio::net::TcpListener;

use crate::{
    auth::Auth,
    batcher::{self, EventQueue},
    clients::backend::BackendClient,
    config::Config,
    routes,
};

/// Body limit of the proxied API (the backend's own limit).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for the queued events to reach the backend: one
/// call within `UPSTREAM_TIMEOUT_MS` (5 s) and a margin; what is left then is
/// counted lost (`events_forwarded_total{outcome="shutdown"}`). Part of the
/// shutdown budget (infrastructure/k8s/check_timings.py reads it).
const FLUSH_DEADLINE: Duration = Duration::from_secs(6);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub backend: BackendClient,
    pub events: EventQueue,
    pub auth: Arc<Auth>,
}

/// Routes behind the API key, JSON fallbacks, the operational endpoints,
/// the seatbelts (timeout, body limit, panic → 500 JSON), and the
/// observability layers over all of it (added last so they see every
/// route's template and every response).
pub fn router(state: AppState, ops: &Ops, request_timeout: Duration) -> Router {
    with_telemetry(bare_router(state, ops, request_timeout))
}

/// The routes and seatbelts without the observability layers: the
/// load benchmark's `bare` baseline (`gateway-bare`), never deployed.
pub fn bare_router(state: AppState, ops: &Ops, request_timeout: Duration) -> Router {
    let api = routes::router(&state).with_state(state).merge(ops.router());
    json_api::with_seatbelts(api, BODY_LIMIT_BYTES, request_timeout)
}

/// The observability layers over `router`.
pub fn with_telemetry(router: Router) -> Router {
    router
        .layer(telemetry::http::layer())
        // Outermost: every layer and handler runs in the request's server
        // span. See `telemetry::trace::layer`.
        .layer(telemetry::trace::layer())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    serve_with(config, router).await
}

/// [`serve`] with the router built by `build` ([`router`] or [`bare_router`]).
pub async fn serve_with(
    config: Config,
    build: fn(AppState, &Ops, Duration) -> Router,
) -> anyhow::Result<()> {
    if config.api_keys.defaulted {
        tracing::warn!(
            context = "Bootstrap",
            "GATEWAY_API_KEYS is unset: accepting the development key \"dev-key\" only"
        );
    }
    let backend = BackendClient::new(config.backend_url.expose(), config.upstream_timeout)?;
    let (events, flusher) = batcher::spawn(backend.clone(), config.batching);
    let state = AppState {
        backend,
        events,
        auth: Arc::new(Auth::new(
            &config.api_keys.keys,
            config.rate_limit,
            config.auth_failure_limit,
        )),
    };
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    // The backend's `/live`, not its `/ready`: the gateway needs the backend
    // process reachable; whether the backend can serve is the backend's own
    // readiness, which already removes it from its Service. Chaining
    // readiness would let a database blip take the whole edge out of rotation.
    let ops = Ops::new(crate::SERVICE, &config.ops).with_check(http_check(
        "backend",
        format!("{}/live", config.backend_url.expose()),
        Criticality::Critical,
    ));
    tracing::info!(context = "Bootstrap", backend = %config.backend_url.sanitized(), "Gateway running on http://{addr}");
    ops.serve(listener, build(state, &ops, config.request_timeout))
        .await?;
    // The server has stopped: deliver what is queued, within the deadline.
    flusher.shutdown(FLUSH_DEADLINE).await;
    Ok(())
}
