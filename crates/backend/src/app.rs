//! The backend's router and server.

use std::time::Duration;

use axum::Router;
use telemetry::{
    Ops,
    health::{Criticality, check_fn},
};
use tokio::net::TcpListener;

use crate::{config::Config, faults, pseudonym::Pseudonyms, retention, routes, store::Store};

/// Body limit of every route but `/api/events` (see [`routes::EVENTS_BODY_LIMIT_BYTES`]).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Whether `X-Demo-Fault` is honoured (see [`crate::faults`]).
    pub demo_faults: bool,
}

/// The whole HTTP surface: API routes, JSON fallbacks, the operational
/// endpoints, the seatbelts (timeout, body limit, panic → 500 JSON), and
/// the observability layers over all of it (added last so they see every
/// route's template and every response).
pub fn router(state: AppState, ops: &Ops, request_timeout: Duration) -> Router {
    with_telemetry(bare_router(state, ops, request_timeout))
}

/// The routes and seatbelts without the observability layers: the
/// load benchmark's `bare` baseline (`backend-bare`), never deployed.
pub fn bare_router(state: AppState, ops: &Ops, request_timeout: Duration) -> Router {
    let api = routes::router()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        .with_state(state)
        .merge(ops.router());
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
    let store = Store::connect(
        config.database_url.expose(),
        config.database_max_connections,
    )
    .await?
    .with_pseudonyms(Pseudonyms::new(
        config
            .telemetry
            .logging
            .hash_salt
            .as_ref()
            .map(|salt| salt.expose().as_str()),
    ));
    crate::store::expose_pool(&store, config.database_max_connections);
    let business_gauges = crate::store::spawn_business_gauges(store.clone());
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    // Readiness: the database answers and every migration is applied.
    let ops = Ops::new(crate::SERVICE, &config.ops).with_check(check_fn(
        "database",
        Criticality::Critical,
        {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move { store.health().await.into() }
            }
        },
    ));
    if config.demo_faults {
        tracing::info!(
            context = "Bootstrap",
            "DEMO_FAULTS on: requests may ask for a delay or a database failure (X-Demo-Fault)"
        );
    }
    tracing::info!(
        context = "Bootstrap",
        database = store.engine().as_str(),
        "Backend running on http://{addr}"
    );
    let app = build(
        AppState {
            store: store.clone(),
            demo_faults: config.demo_faults,
        },
        &ops,
        config.request_timeout,
    );
    let retention = retention::spawn(store.clone(), config.retention, ops.shutdown().clone());
    ops.serve(listener, app).await?;
    // Ended with the drain (it stops between two batches): nothing writes
    // once the pool closes.
    let _ = retention.await;
    business_gauges.abort();
    store.close().await;
    Ok(())
}
