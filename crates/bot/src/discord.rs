//! The Discord connection: starting the shards this process owns, retrying
//! what may heal, reporting readiness (every shard connected) and sampling
//! shard metrics.
//!
//! A missing, invalid or refused token never stops the process: the HTTP
//! server keeps answering and readiness says why the bot is not connected.

use std::{
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use poise::serenity_prelude::{
    self as serenity, ConnectionStage, ShardId, ShardManager, gateway::GatewayError,
    http::HttpError,
};
use telemetry::metrics::{FloatGaugeVec, GaugeVec};

use crate::{
    clients::GatewayClient,
    commands::{self, Data},
    config::ShardSelection,
    events::{EventForwarder, Handler},
};

/// `discord_shard_latency_seconds{shard}`: last heartbeat round trip.
pub static SHARD_LATENCY: LazyLock<FloatGaugeVec> = LazyLock::new(|| {
    telemetry::metrics::float_gauge_vec(
        "discord_shard_latency_seconds",
        "Heartbeat latency of each Discord shard run by this process",
        &["shard"],
    )
});

/// `discord_gateway_connected{shard}`: 1 while the shard is connected. One
/// series per shard so a replica with one shard down is visible;
/// `min(discord_gateway_connected)` is the process-wide view.
pub static GATEWAY_CONNECTED: LazyLock<GaugeVec> = LazyLock::new(|| {
    telemetry::metrics::gauge_vec(
        "discord_gateway_connected",
        "1 while the Discord shard is connected, 0 otherwise, per shard run by this process",
        &["shard"],
    )
});

const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The shards this process runs, once known (autosharding asks Discord).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shards {
    first: u32,
    last: u32,
    total: u32,
}

enum State {
    NotConfigured,
    Starting,
    Running {
        manager: Arc<ShardManager>,
        shards: Shards,
    },
    Failed(String),
    Stopped,
}

/// How to reach Discord. Not `Debug`: it holds the token.
#[derive(Clone)]
pub struct Settings {
    pub token: String,
    pub shards: ShardSelection,
    /// Base URL replacing `https://discord.com` for REST calls (a shared
    /// rate-limiting proxy such as twilight-http-proxy, which then owns rate
    /// limiting); `None` = direct, rate-limited in process.
    pub api_proxy: Option<String>,
}

impl Settings {
    fn http(&self) -> serenity::Http {
        let builder = serenity::HttpBuilder::new(&self.token);
        match &self.api_proxy {
            // The proxy owns rate limiting (serenity's in-process limiter
            // would also bypass the proxy).
            Some(proxy) => builder.proxy(proxy.clone()).ratelimiter_disabled(true),
            None => builder,
        }
        .build()
    }
}

/// A handle on the Discord connection; cheap to clone.
#[derive(Clone)]
pub struct Discord {
    state: Arc<Mutex<State>>,
}

impl Discord {
    /// No token: never connects, never ready.
    pub fn not_configured() -> Self {
        Self::with_state(State::NotConfigured)
    }

    fn with_state(state: State) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn set(&self, state: State) {
        if let Ok(mut current) = self.state.lock() {
            // Once stopped, a late failure of the connection task must not
            // overwrite the state.
            if !matches!(*current, State::Stopped) {
                *current = state;
            }
        }
    }

    fn is_stopped(&self) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| matches!(*state, State::Stopped))
    }

    fn running(&self) -> Result<(Arc<ShardManager>, Shards), String> {
        let state = self
            .state
            .lock()
            .map_err(|_| "Discord state unavailable".to_owned())?;
        match &*state {
            State::NotConfigured => Err("DISCORD_TOKEN not set".to_owned()),
            State::Starting => Err("connecting to Discord".to_owned()),
            State::Running { manager, shards } => Ok((manager.clone(), *shards)),
            State::Failed(reason) => Err(reason.clone()),
            State::Stopped => Err("shutting down".to_owned()),
        }
    }

    /// Ready when every shard of this process is `Connected`; otherwise the
    /// reason, e.g. `DISCORD_TOKEN not set` or `shard 1 is Resuming`.
    pub async fn readiness(&self) -> Result<(), String> {
        let (manager, shards) = self.running()?;
        let runners = manager.runners.lock().await;
        all_connected(shards, |id| runners.get(&ShardId(id)).map(|r| r.stage))
    }

    /// Disconnects every shard; the connection task then ends.
    pub async fn shutdown(&self) {
        let manager = self.running().ok().map(|(manager, _)| manager);
        self.set(State::Stopped);
        if let Some(manager) = manager {
            manager.shutdown_all().await;
        }
    }

    /// Spawns the connection (with retries) and the metrics sampler.
    pub fn start(settings: Settings, gateway: Arc<GatewayClient>, events: EventForwarder) -> Self {
        let discord = Self::with_state(State::Starting);
        tokio::spawn(connect_with_retries(
            discord.clone(),
            settings,
            gateway,
            events,
        ));
        tokio::spawn(sample_shards(discord.clone()));
        discord
    }
}

/// `Ok` when every shard of `shards` is `Connected`; otherwise the first
/// shard that is not, and its stage.
fn all_connected(
    shards: Shards,
    stage: impl Fn(u32) -> Option<ConnectionStage>,
) -> Result<(), String> {
    for id in shards.first..=shards.last {
        match stage(id) {
            Some(ConnectionStage::Connected) => {}
            Some(other) => return Err(format!("shard {id} is {other}")),
            None => return Err(format!("shard {id} not started yet")),
        }
    }
    Ok(())
}

async fn connect_with_retries(
    discord: Discord,
    settings: Settings,
    gateway: Arc<GatewayClient>,
    events: EventForwarder,
) {
    let mut pause = FIRST_RETRY;
    loop {
        let outcome = connect(&discord, &settings, &gateway, &events).await;
        if discord.is_stopped() {
            return;
        }
        let error = match outcome {
            Ok(()) => {
                tracing::warn!(context = "Discord", "every shard stopped");
                discord.set(State::Failed("every shard stopped".to_owned()));
                return;
            }
            Err(error) => error,
        };
        if let Some(reason) = fatal(&error) {
            tracing::error!(context = "Discord", error = %error, "{reason}; not retrying");
            discord.set(State::Failed(reason));
            return;
        }
        tracing::error!(
            context = "Discord",
            error = %error,
            cause = ?std::error::Error::source(&error),
            "cannot connect to Discord; retrying in {pause:?}"
        );
        discord.set(State::Failed(format!("cannot connect to Discord: {error}")));
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY);
    }
}

/// Errors that retrying cannot fix, with what to do about them.
fn fatal(error: &serenity::Error) -> Option<String> {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response))
            if response.status_code.as_u16() == 401 =>
        {
            Some("Discord refused DISCORD_TOKEN (401): check the bot token".to_owned())
        }
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
            Some("Discord refused DISCORD_TOKEN (invalid authentication)".to_owned())
        }
        serenity::Error::Gateway(
            GatewayError::DisallowedGatewayIntents | GatewayError::InvalidGatewayIntents,
        ) => Some(
            "Discord refused the intents: enable the Server Members intent in the developer portal"
                .to_owned(),
        ),
        _ => None,
    }
}

/// One connection attempt; returns when the shards stop.
async fn connect(
    discord: &Discord,
    settings: &Settings,
    gateway: &Arc<GatewayClient>,
    events: &EventForwarder,
) -> Result<(), serenity::Error> {
    let shards = match settings.shards {
        ShardSelection::Range { first, last, total } => Shards { first, last, total },
        // What `start_autosharded` does, done here so readiness knows which
        // shards to wait for.
        ShardSelection::Auto => {
            let recommended = settings.http().get_bot_gateway().await?.shards.max(1);
            Shards {
                first: 0,
                last: recommended - 1,
                total: recommended,
            }
        }
    };
    tracing::info!(
        context = "Discord",
        "starting shards {}-{} of {}",
        shards.first,
        shards.last,
        shards.total
    );
    let data_gateway = gateway.clone();
    let framework = poise::Framework::builder()
        .options(commands::framework_options())
        .setup(move |ctx, _ready, framework| {
            Box::pin(async move {
                poise::builtins::register_globally(ctx, &framework.options().commands).await?;
                tracing::info!(context = "Discord", "slash commands registered");
                Ok(Data {
                    gateway: data_gateway,
                })
            })
        })
        .build();
    let mut client =
        serenity::ClientBuilder::new_with_http(settings.http(), crate::events::intents())
            .framework(framework)
            .event_handler(Handler {
                sink: events.clone(),
            })
            .await?;
    let manager = client.shard_manager.clone();
    discord.set(State::Running {
        manager: manager.clone(),
        shards,
    });
    // serenity 0.12 treats the range's end as inclusive (it starts
    // `end - start + 1` shards), hence `first..last`.
    let outcome = client
        .start_shard_range(shards.first..shards.last, shards.total)
        .await;
    if outcome.is_err() {
        // serenity returns on the first shard's fatal error; stop the
        // others before retrying or giving up.
        manager.shutdown_all().await;
    }
    outcome
}

/// Copies each shard's stage and latency into the gauges.
async fn sample_shards(discord: Discord) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let mut known: Option<Shards> = None;
    loop {
        tick.tick().await;
        let Ok((manager, shards)) = discord.running() else {
            // Not connected (any more): the shards seen so far read 0.
            if let Some(shards) = known {
                for id in shards.first..=shards.last {
                    GATEWAY_CONNECTED
                        .with_label_values(&[&id.to_string()])
                        .set(0);
                }
            }
            continue;
        };
        known = Some(shards);
        let runners = manager.runners.lock().await;
        for id in shards.first..=shards.last {
            let shard = id.to_string();
            let runner = runners.get(&ShardId(id));
            let connected = runner.is_some_and(|r| r.stage == ConnectionStage::Connected);
            GATEWAY_CONNECTED
                .with_label_values(&[&shard])
                .set(i64::from(connected));
            if let Some(latency) = runner.and_then(|r| r.latency) {
                SHARD_LATENCY
                    .with_label_values(&[&shard])
                    .set(latency.as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_shard_of_the_range_is_connected() {
        let shards = Shards {
            first: 2,
            last: 3,
            total: 4,
        };
        let connected = |_| Some(ConnectionStage::Connected);
        assert_eq!(all_connected(shards, connected), Ok(()));
        let resuming = |id| {
            Some(if id == 3 {
                ConnectionStage::Resuming
            } else {
                ConnectionStage::Connected
            })
        };
        assert_eq!(
            all_connected(shards, resuming),
            Err("shard 3 is resuming".to_owned())
        );
        // Shard 2 not yet handed to a runner (the queue starts shards 5 s apart).
        let pending = |id| (id != 2).then_some(ConnectionStage::Connected);
        assert_eq!(
            all_connected(shards, pending),
            Err("shard 2 not started yet".to_owned())
        );
    }

    #[tokio::test]
    async fn without_a_token_readiness_names_the_variable() {
        assert_eq!(
            Discord::not_configured().readiness().await,
            Err("DISCORD_TOKEN not set".to_owned())
        );
    }

    #[tokio::test]
    async fn a_failure_is_the_readiness_reason_until_shutdown() {
        let discord = Discord::with_state(State::Starting);
        assert_eq!(
            discord.readiness().await,
            Err("connecting to Discord".into())
        );
        discord.set(State::Failed("Discord refused DISCORD_TOKEN".into()));
        assert_eq!(
            discord.readiness().await,
            Err("Discord refused DISCORD_TOKEN".into())
        );
        discord.shutdown().await;
        discord.set(State::Failed("late failure".into()));
        assert_eq!(discord.readiness().await, Err("shutting down".into()));
    }
}
