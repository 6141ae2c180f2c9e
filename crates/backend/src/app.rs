//! The backend's router and server.

use axum::Router;
use telemetry::Ops;
use tokio::net::TcpListener;

use crate::config::Config;

/// The API routes, the operational endpoints, and the HTTP observability
/// layer over all of them (added last so it sees every route's template).
pub fn router(ops: &Ops) -> Router {
    Router::new()
        .merge(ops.router())
        .layer(telemetry::http::layer())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    let database = config.database_url.split(':').next().unwrap_or_default();
    // Readiness-critical checks go here, one line each, e.g. the database:
    // `.with_check(telemetry::health::check_fn("database", Criticality::Critical, ...))`.
    let ops = Ops::new(crate::SERVICE, &config.ops);
    tracing::info!(
        context = "Bootstrap",
        database,
        "Backend running on http://{addr}"
    );
    telemetry::serve(listener, router(&ops), ops.shutdown()).await?;
    Ok(())
}
