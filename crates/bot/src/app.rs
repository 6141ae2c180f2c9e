//! The bot's HTTP server (probes and metrics) and its Discord connection.

use std::{sync::Arc, time::Duration};

use axum::Router;
use telemetry::{
    Ops,
    health::{Criticality, check_fn},
};
use tokio::net::TcpListener;

use crate::{
    clients::GatewayClient,
    config::Config,
    discord::{Discord, Settings},
    events::{EventForwarder, ForwarderConfig, ForwarderTask},
};

/// How long queued events get to reach the gateway at shutdown. Part of
/// the shutdown budget (infrastructure/k8s/check_timings.py reads it).
const FLUSH_GRACE: Duration = Duration::from_secs(3);

/// The operational endpoints behind the HTTP observability layer.
pub fn router(ops: &Ops) -> Router {
    Router::new()
        .merge(ops.router())
        .layer(telemetry::http::layer())
        // Outermost (added last): every layer and handler runs in the
        // request's server span. See `telemetry::trace::layer`.
        .layer(telemetry::trace::layer())
}

/// Starts the Discord side (or explains why not) and returns its handle,
/// whose [`Discord::readiness`] is the bot's readiness check.
pub fn start_discord(
    config: &Config,
    gateway: Arc<GatewayClient>,
    events: EventForwarder,
) -> Discord {
    match &config.discord_token {
        Some(token) => {
            let settings = Settings {
                token: token.clone(),
                shards: config.shards,
                api_proxy: config.discord_api_proxy.clone(),
            };
            Discord::start(settings, gateway, events)
        }
        None => {
            tracing::warn!(
                context = "Discord",
                "DISCORD_TOKEN not set: serving probes and metrics only, not connecting to Discord (not ready)"
            );
            Discord::not_configured()
        }
    }
}

/// `/ready` and `/health`: every shard of this process connected, or why not
/// (`DISCORD_TOKEN not set`, `Discord refused DISCORD_TOKEN ...`, `shard 1 is resuming`).
fn discord_check(discord: Discord) -> impl telemetry::health::Check {
    check_fn("discord", Criticality::Critical, move || {
        let discord = discord.clone();
        async move { discord.readiness().await.into() }
    })
}

/// The bot, started: the bound HTTP listener, the Discord connection and
/// the event forwarder.
pub struct App {
    listener: TcpListener,
    ops: Ops,
    discord: Discord,
    forwarder: ForwarderTask,
}

impl App {
    /// Binds the HTTP port and starts the Discord side (which never blocks
    /// startup: without a token, or with a refused one, it reports not ready).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((config.host.as_str(), config.http_port)).await?;
        let addr = listener.local_addr()?;
        tracing::info!(context = "Bootstrap", gateway = %telemetry::secrets::sanitize_url(&config.gateway_url), "Bot HTTP server running on http://{addr}");
        let gateway = Arc::new(GatewayClient::new(
            &config.gateway_url,
            &config.gateway_api_key,
        )?);
        let (events, forwarder) =
            EventForwarder::spawn(gateway.clone(), ForwarderConfig::default());
        let discord = start_discord(config, gateway, events);
        let ops = Ops::new(crate::SERVICE, &config.ops).with_check(discord_check(discord.clone()));
        Ok(Self {
            listener,
            ops,
            discord,
            forwarder,
        })
    }

    /// The Discord handle; [`Discord::readiness`] is the bot's readiness check.
    pub fn discord(&self) -> &Discord {
        &self.discord
    }

    pub fn port(&self) -> Option<u16> {
        self.listener.local_addr().ok().map(|addr| addr.port())
    }

    /// Serves until SIGINT/SIGTERM (then drains as `Ops::serve` does),
    /// then disconnects the shards and flushes the queued events.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.ops.serve(self.listener, router(&self.ops)).await?;
        self.discord.shutdown().await;
        self.forwarder.shutdown(FLUSH_GRACE).await;
        Ok(())
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    App::build(&config).await?.run_until_stopped().await
}
