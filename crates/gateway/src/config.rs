//! The gateway's settings, read from the environment.

use std::{num::NonZeroU32, time::Duration};

use telemetry::{ConfigError, Environment, OpsConfig, TelemetryConfig, config, secrets::SecretUrl};

pub const DEFAULT_PORT: u16 = 3001;
pub const DEFAULT_BACKEND_URL: &str = "http://localhost:3000";
/// The key accepted in development when `GATEWAY_API_KEYS` is unset.
pub const DEVELOPMENT_API_KEY: &str = "dev-key";

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// May carry credentials: `Debug` hides them.
    pub backend_url: SecretUrl,
    pub api_keys: ApiKeys,
    pub rate_limit: RateLimit,
    /// Bound on every call to the backend (connect + response).
    pub upstream_timeout: Duration,
    /// Bound on a client request's handling time (408 JSON past it).
    pub request_timeout: Duration,
    pub batching: Batching,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys {
    pub keys: Vec<String>,
    /// True when the development default is in use (warned at startup).
    pub defaulted: bool,
}

impl std::fmt::Debug for ApiKeys {
    // Keys are secrets: never printed, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ApiKeys({} keys, defaulted: {})",
            self.keys.len(),
            self.defaulted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// How events from the bot are batched to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Flush as soon as this many events are queued.
    pub max_batch: usize,
    /// Flush at least this often when events are waiting.
    pub flush_interval: Duration,
    /// Events held at most; past it `POST /events` answers 503.
    pub queue_capacity: usize,
}

/// The backend accepts up to 1000 events per request.
pub const BACKEND_MAX_BATCH: usize = 1000;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        let max_batch = positive("EVENT_BATCH_SIZE", 500)?;
        if max_batch > BACKEND_MAX_BATCH as u64 {
            return Err(ConfigError::new(
                "EVENT_BATCH_SIZE",
                &max_batch.to_string(),
                format!("must be at most {BACKEND_MAX_BATCH} (the backend's batch limit)"),
            ));
        }
        let queue_capacity = positive("EVENT_QUEUE_CAPACITY", 10_000)?;
        if queue_capacity < BACKEND_MAX_BATCH as u64 {
            return Err(ConfigError::new(
                "EVENT_QUEUE_CAPACITY",
                &queue_capacity.to_string(),
                format!("must be at least {BACKEND_MAX_BATCH} (one full request)"),
            ));
        }
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: config::port(&["PORT", "GATEWAY_PORT"], DEFAULT_PORT)?,
            backend_url: SecretUrl::new(config::http_url_or("BACKEND_URL", DEFAULT_BACKEND_URL)?),
            ops: OpsConfig::from_env(telemetry.environment)?,
            api_keys: api_keys(telemetry.environment)?,
            rate_limit: RateLimit {
                per_second: non_zero("GATEWAY_RATE_LIMIT_PER_SECOND", 50)?,
                burst: non_zero("GATEWAY_RATE_LIMIT_BURST", 100)?,
            },
            upstream_timeout: Duration::from_millis(positive("UPSTREAM_TIMEOUT_MS", 5_000)?),
            request_timeout: Duration::from_millis(positive("REQUEST_TIMEOUT_MS", 10_000)?),
            batching: Batching {
                max_batch: usize::try_from(max_batch).unwrap_or(BACKEND_MAX_BATCH),
                flush_interval: Duration::from_millis(positive("EVENT_FLUSH_INTERVAL_MS", 100)?),
                queue_capacity: usize::try_from(queue_capacity).unwrap_or(usize::MAX),
            },
            telemetry,
        })
    }
}

/// `GATEWAY_API_KEYS`: comma-separated. Unset is allowed in development only
/// (one key, `dev-key`): elsewhere an open gateway is a configuration error.
fn api_keys(environment: Environment) -> Result<ApiKeys, ConfigError> {
    const VAR: &str = "GATEWAY_API_KEYS";
    match config::var(VAR) {
        Some(raw) => {
            let keys: Vec<String> = raw
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(str::to_owned)
                .collect();
            if keys.is_empty() {
                return Err(ConfigError::new(VAR, &raw, "expected comma-separated keys"));
            }
            Ok(ApiKeys {
                keys,
                defaulted: false,
            })
        }
        None if environment == Environment::Development => Ok(ApiKeys {
            keys: vec![DEVELOPMENT_API_KEY.to_owned()],
            defaulted: true,
        }),
        None => Err(ConfigError::new(
            VAR,
            "",
            format!("required in {environment} (comma-separated API keys)"),
        )),
    }
}

fn positive(name: &str, default: u64) -> Result<u64, ConfigError> {
    let value = config::parse_or(name, default)?;
    if value == 0 {
        return Err(ConfigError::new(name, "0", "must be greater than 0"));
    }
    Ok(value)
}

fn non_zero(name: &str, default: u32) -> Result<NonZeroU32, ConfigError> {
    let value: u32 = config::parse_or(name, default)?;
    NonZeroU32::new(value).ok_or_else(|| ConfigError::new(name, "0", "must be greater than 0"))
}
