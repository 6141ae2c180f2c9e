//! The gateway's settings, read from the environment.

use std::{num::NonZeroU32, time::Duration};

use telemetry::{ConfigError, Environment, OpsConfig, TelemetryConfig, config, secrets::SecretUrl};

use crate::scope::Scopes;

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
    /// Failed authentications allowed per client address.
    pub auth_failure_limit: AuthFailureLimit,
    /// Bound on every call to the backend (connect + response).
    pub upstream_timeout: Duration,
    /// Bound on a client request's handling time (503 JSON `handler_timeout` past it).
    pub request_timeout: Duration,
    pub batching: Batching,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys {
    pub keys: Vec<ApiKey>,
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

/// One accepted key and what it may do.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key: String,
    pub scopes: Scopes,
}

impl ApiKey {
    pub fn new(key: impl Into<String>, scopes: Scopes) -> Self {
        Self {
            key: key.into(),
            scopes,
        }
    }
}

impl std::fmt::Debug for ApiKey {
    // The key is a secret: only its scopes are printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey(<redacted>, {:?})", self.scopes)
    }
}

/// `GATEWAY_AUTH_FAILURE_LIMIT_*`: how many failed authentications one
/// client address may make (a bucket of `burst`, refilled `per_minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailureLimit {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
    /// Addresses tracked at most (bounded memory).
    pub max_addresses: usize,
}

/// Addresses the failed-authentication limit tracks at most.
pub const AUTH_FAILURE_MAX_ADDRESSES: usize = 10_000;

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
            // Before `ops`: without keys, that is the one line to read.
            api_keys: api_keys(config::var("GATEWAY_API_KEYS"), telemetry.environment)?,
            ops: OpsConfig::from_env(telemetry.environment)?,
            rate_limit: RateLimit {
                per_second: non_zero("GATEWAY_RATE_LIMIT_PER_SECOND", 50)?,
                burst: non_zero("GATEWAY_RATE_LIMIT_BURST", 100)?,
            },
            auth_failure_limit: AuthFailureLimit {
                per_minute: non_zero("GATEWAY_AUTH_FAILURE_LIMIT_PER_MINUTE", 10)?,
                burst: non_zero("GATEWAY_AUTH_FAILURE_LIMIT_BURST", 10)?,
                max_addresses: AUTH_FAILURE_MAX_ADDRESSES,
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

/// `GATEWAY_API_KEYS`: comma-separated entries `key` or `key:scopes`
/// (`events`, `api`, `events+api`). A bare key has every scope, which is
/// allowed in development only: elsewhere each key says what it may do.
/// Unset is allowed in development only (one key, `dev-key`, every scope):
/// elsewhere an open gateway is a configuration error. Errors never print a
/// key, only its position.
fn api_keys(raw: Option<String>, environment: Environment) -> Result<ApiKeys, ConfigError> {
    const VAR: &str = "GATEWAY_API_KEYS";
    const REDACTED: &str = "<redacted>";
    let Some(raw) = raw else {
        return if environment == Environment::Development {
            Ok(ApiKeys {
                keys: vec![ApiKey::new(DEVELOPMENT_API_KEY, Scopes::all())],
                defaulted: true,
            })
        } else {
            Err(ConfigError::new(
                VAR,
                "",
                format!(
                    "required in {environment} (comma-separated key:scopes, scopes events, api or events+api)"
                ),
            ))
        };
    };
    let entries: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(ConfigError::new(
            VAR,
            REDACTED,
            "expected comma-separated keys",
        ));
    }
    let mut keys: Vec<ApiKey> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let position = index + 1;
        let (key, scopes) = match entry.rsplit_once(':') {
            Some((key, scopes)) => {
                let scopes = Scopes::parse(scopes).map_err(|reason| {
                    ConfigError::new(VAR, REDACTED, format!("key {position}: {reason}"))
                })?;
                (key.trim(), scopes)
            }
            None if environment == Environment::Development => (*entry, Scopes::all()),
            None => {
                return Err(ConfigError::new(
                    VAR,
                    REDACTED,
                    format!(
                        "key {position} names no scope: in {environment} write key:events, key:api or key:events+api"
                    ),
                ));
            }
        };
        if key.is_empty() {
            return Err(ConfigError::new(
                VAR,
                REDACTED,
                format!("key {position} is empty"),
            ));
        }
        if keys.iter().any(|known| known.key == key) {
            return Err(ConfigError::new(
                VAR,
                REDACTED,
                format!("key {position} is listed twice: give it every scope it needs once"),
            ));
        }
        keys.push(ApiKey::new(key, scopes));
    }
    Ok(ApiKeys {
        keys,
        defaulted: false,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    fn parse(raw: &str, environment: Environment) -> Result<ApiKeys, ConfigError> {
        api_keys(Some(raw.to_owned()), environment)
    }

    #[test]
    fn keys_carry_their_scopes() {
        let keys = parse(
            "client:api, bot:events+api,feeder:events",
            Environment::Production,
        )
        .unwrap()
        .keys;
        let scopes: Vec<(&str, bool, bool)> = keys
            .iter()
            .map(|k| {
                (
                    k.key.as_str(),
                    k.scopes.contains(Scope::Events),
                    k.scopes.contains(Scope::Api),
                )
            })
            .collect();
        assert_eq!(
            scopes,
            [
                ("client", false, true),
                ("bot", true, true),
                ("feeder", true, false)
            ]
        );
    }

    #[test]
    fn a_bare_key_has_every_scope_in_development_only() {
        let keys = parse("alpha, beta:api", Environment::Development)
            .unwrap()
            .keys;
        assert_eq!(keys[0].scopes, Scopes::all());
        for environment in [Environment::Staging, Environment::Production] {
            let error = parse("alpha:api,beta", environment).unwrap_err();
            assert_eq!(error.var, "GATEWAY_API_KEYS");
            assert!(error.reason.contains("key 2 names no scope"), "{error}");
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_print_a_key() {
        for raw in [
            "s3cret-one:admin",
            "s3cret-one:api,s3cret-one:events",
            ":api",
            " , ",
        ] {
            let error = parse(raw, Environment::Production).unwrap_err();
            assert_eq!(error.var, "GATEWAY_API_KEYS");
            let line = error.to_string();
            assert!(!line.contains("s3cret"), "{line}");
        }
        let unset = api_keys(None, Environment::Production).unwrap_err();
        assert_eq!(unset.var, "GATEWAY_API_KEYS");
        let default = api_keys(None, Environment::Development).unwrap();
        assert!(default.defaulted);
        assert_eq!(default.keys[0].scopes, Scopes::all());
    }

    #[test]
    fn debug_never_prints_a_key() {
        let keys = parse("s3cret:api", Environment::Production).unwrap();
        assert!(!format!("{keys:?}").contains("s3cret"));
        assert!(!format!("{:?}", keys.keys[0]).contains("s3cret"));
    }
}
