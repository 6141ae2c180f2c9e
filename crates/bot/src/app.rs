//! The bot's HTTP server (probes and metrics) and its Discord connection.

use std::{sync::Arc, time::Duration};

use axum::Router;
use tokio::net::TcpListener;

use crate::{
    clients::GatewayClient,
    config::Config,
    discord::{Discord, Settings},
    events::{EventForwarder, ForwarderConfig, ForwarderTask},
};

/// How long queued events get to reach the gateway at shutdown.
const FLUSH_GRACE: Duration = Duration::from_secs(3);

pub fn router() -> Router {
    Router::new().merge(telemetry::ops::router())
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

/// The bot, started: the bound HTTP listener, the Discord connection and
/// the event forwarder.
pub struct App {
    listener: TcpListener,
    discord: Discord,
    forwarder: ForwarderTask,
}

impl App {
    /// Binds the HTTP port and starts the Discord side (which never blocks
    /// startup: without a token, or with a refused one, it reports not ready).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((config.host.as_str(), config.http_port)).await?;
        let addr = listener.local_addr()?;
        tracing::info!(context = "Bootstrap", gateway = %config.gateway_url, "Bot HTTP server running on http://{addr}");
        let gateway = Arc::new(GatewayClient::new(
            &config.gateway_url,
            &config.gateway_api_key,
        )?);
        let (events, forwarder) =
            EventForwarder::spawn(gateway.clone(), ForwarderConfig::default());
        let discord = start_discord(config, gateway, events);
        Ok(Self {
            listener,
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

    /// Serves until SIGINT/SIGTERM, then disconnects the shards and flushes
    /// the queued events.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        axum::serve(self.listener, router())
            .with_graceful_shutdown(telemetry::shutdown::signal())
            .await?;
        self.discord.shutdown().await;
        self.forwarder.shutdown(FLUSH_GRACE).await;
        Ok(())
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    App::build(&config).await?.run_until_stopped().await
}
