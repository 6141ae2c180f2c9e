//! The gateway's router and server.

use axum::Router;
use telemetry::{
    Ops,
    health::{Criticality, http_check},
};
use tokio::net::TcpListener;

use crate::config::Config;

/// The edge routes, the operational endpoints, and the HTTP observability
/// layer over all of them (added last so it sees every route's template).
pub fn router(ops: &Ops) -> Router {
    Router::new()
        .merge(ops.router())
        .layer(telemetry::http::layer())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    // The backend's `/live`, not its `/ready`: the gateway needs the backend
    // process reachable; whether the backend can serve is the backend's own
    // readiness, which already removes it from its Service. Chaining
    // readiness would let a database blip take the whole edge out of rotation.
    let ops = Ops::new(crate::SERVICE, &config.ops).with_check(http_check(
        "backend",
        format!("{}/live", config.backend_url),
        Criticality::Critical,
    ));
    tracing::info!(context = "Bootstrap", backend = %config.backend_url, "Gateway running on http://{addr}");
    telemetry::serve(listener, router(&ops), ops.shutdown()).await?;
    Ok(())
}
