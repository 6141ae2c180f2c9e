//! The backend's router and server.

use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;

pub fn router() -> Router {
    Router::new()
        .merge(telemetry::ops::router())
        // Outermost (added last): every layer and handler runs in the
        // request's server span. See `telemetry::trace::layer`.
        .layer(telemetry::trace::layer())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    let addr = listener.local_addr()?;
    let database = config.database_url.split(':').next().unwrap_or_default();
    tracing::info!(
        context = "Bootstrap",
        database,
        "Backend running on http://{addr}"
    );
    axum::serve(listener, router())
        .with_graceful_shutdown(telemetry::shutdown::signal())
        .await?;
    Ok(())
}
