//! The bot's HTTP server (probes and metrics) and its Discord connection.

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
    let listener = TcpListener::bind((config.host.as_str(), config.http_port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(context = "Bootstrap", gateway = %config.gateway_url, "Bot HTTP server running on http://{addr}");
    if config.discord_token.is_none() {
        tracing::warn!(
            context = "Discord",
            "DISCORD_TOKEN not set: serving probes and metrics only, not connecting to Discord (not ready)"
        );
    }
    axum::serve(listener, router())
        .with_graceful_shutdown(telemetry::shutdown::signal())
        .await?;
    Ok(())
}
