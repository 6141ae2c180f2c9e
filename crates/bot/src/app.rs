//! The bot's HTTP server (probes and metrics) and its Discord connection.

use axum::Router;
use telemetry::{
    Ops,
    health::{CheckOutcome, Criticality, check_fn},
};
use tokio::net::TcpListener;

use crate::config::Config;

/// The operational endpoints behind the HTTP observability layer.
pub fn router(ops: &Ops) -> Router {
    Router::new()
        .merge(ops.router())
        .layer(telemetry::http::layer())
        // Outermost (added last): every layer and handler runs in the
        // request's server span. See `telemetry::trace::layer`.
        .layer(telemetry::trace::layer())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind((config.host.as_str(), config.http_port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(context = "Bootstrap", gateway = %config.gateway_url, "Bot HTTP server running on http://{addr}");
    let mut ops = Ops::new(crate::SERVICE, &config.ops);
    if config.discord_token.is_none() {
        tracing::warn!(
            context = "Discord",
            "DISCORD_TOKEN not set: serving probes and metrics only, not connecting to Discord (not ready)"
        );
        ops = ops.with_check(discord_token_missing());
    }
    telemetry::serve(listener, router(&ops), ops.shutdown()).await?;
    Ok(())
}

/// Readiness without a token: never ready. The shard-connection check takes
/// this one's place once the bot connects.
fn discord_token_missing() -> impl telemetry::health::Check {
    check_fn("discord", Criticality::Critical, || async {
        CheckOutcome::failed("DISCORD_TOKEN not set")
    })
}
