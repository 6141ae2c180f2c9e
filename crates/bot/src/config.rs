//! The bot's settings, read from the environment.

use std::fmt;

use telemetry::{
    ConfigError, Environment, OpsConfig, TelemetryConfig, config, secrets::sanitize_url,
};

pub const DEFAULT_HTTP_PORT: u16 = 3003;
pub const DEFAULT_GATEWAY_URL: &str = "http://localhost:3001";
/// The gateway's development key (`GATEWAY_API_KEYS` default).
pub const DEFAULT_GATEWAY_API_KEY: &str = "dev-key";

#[derive(Clone)]
pub struct Config {
    pub host: String,
    pub http_port: u16,
    pub gateway_url: String,
    pub gateway_api_key: String,
    /// `None`: the bot serves its HTTP endpoints but does not connect.
    pub discord_token: Option<String>,
    pub shards: ShardSelection,
    /// Base URL of a Discord REST proxy; `None` = call discord.com directly.
    pub discord_api_proxy: Option<String>,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
}

/// Secrets (`DISCORD_TOKEN`, `GATEWAY_API_KEY`) are redacted.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("http_port", &self.http_port)
            .field("gateway_url", &sanitize_url(&self.gateway_url))
            .field("gateway_api_key", &redacted(true))
            .field("discord_token", &redacted(self.discord_token.is_some()))
            .field("shards", &self.shards)
            .field(
                "discord_api_proxy",
                &self.discord_api_proxy.as_deref().map(sanitize_url),
            )
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            http_port: config::port(&["PORT", "BOT_HTTP_PORT"], DEFAULT_HTTP_PORT)?,
            gateway_url: config::http_url_or("GATEWAY_URL", DEFAULT_GATEWAY_URL)?,
            gateway_api_key: gateway_api_key(
                config::var("GATEWAY_API_KEY"),
                telemetry.environment,
            )?,
            discord_token: config::var("DISCORD_TOKEN"),
            shards: ShardSelection::parse(
                config::var("DISCORD_SHARDS").as_deref(),
                config::var("DISCORD_SHARD_TOTAL").as_deref(),
            )?,
            discord_api_proxy: config::http_url("DISCORD_API_PROXY")?,
            ops: OpsConfig::from_env(telemetry.environment)?,
            telemetry,
        })
    }
}

/// `GATEWAY_API_KEY`: the development key by default, in development only.
/// Elsewhere the gateway never accepts it, so starting with it would only
/// turn into 401s on every forwarded event: refuse it at startup instead.
fn gateway_api_key(raw: Option<String>, environment: Environment) -> Result<String, ConfigError> {
    const VAR: &str = "GATEWAY_API_KEY";
    match raw {
        _ if environment == Environment::Development => {
            Ok(raw.unwrap_or_else(|| DEFAULT_GATEWAY_API_KEY.to_owned()))
        }
        None => Err(ConfigError::new(
            VAR,
            "",
            format!("required in {environment} (one of the gateway's GATEWAY_API_KEYS)"),
        )),
        Some(key) if key.trim() == DEFAULT_GATEWAY_API_KEY => Err(ConfigError::new(
            VAR,
            &key,
            format!(
                "the development key is refused in {environment}: set one of the gateway's GATEWAY_API_KEYS"
            ),
        )),
        Some(key) => Ok(key),
    }
}

/// Which shards this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSelection {
    /// As many shards as Discord recommends, all in this process.
    Auto,
    /// Shards `first..=last` of `total` (several replicas split the guilds).
    Range { first: u32, last: u32, total: u32 },
}

impl ShardSelection {
    /// From `DISCORD_SHARDS` (`N` or `N-M`, inclusive) and `DISCORD_SHARD_TOTAL`.
    /// A total alone means every shard of that total in this process.
    pub fn parse(shards: Option<&str>, total: Option<&str>) -> Result<Self, ConfigError> {
        let total = match total {
            None if shards.is_some() => {
                return Err(ConfigError::new(
                    "DISCORD_SHARD_TOTAL",
                    "",
                    "required when DISCORD_SHARDS is set",
                ));
            }
            None => return Ok(Self::Auto),
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(total) if total >= 1 => total,
                _ => {
                    return Err(ConfigError::new(
                        "DISCORD_SHARD_TOTAL",
                        raw,
                        "expected a whole number of shards, at least 1",
                    ));
                }
            },
        };
        let Some(raw) = shards else {
            return Ok(Self::Range {
                first: 0,
                last: total - 1,
                total,
            });
        };
        let invalid = |reason: &str| ConfigError::new("DISCORD_SHARDS", raw, reason);
        let (first, last) = match raw.trim().split_once('-') {
            Some((first, last)) => (first.trim(), last.trim()),
            None => (raw.trim(), raw.trim()),
        };
        let (Ok(first), Ok(last)) = (first.parse::<u32>(), last.parse::<u32>()) else {
            return Err(invalid(
                "expected a shard id or an inclusive range such as 0-1",
            ));
        };
        if first > last {
            return Err(invalid("the range's start is after its end"));
        }
        if last >= total {
            return Err(invalid(&format!(
                "shard ids go from 0 to DISCORD_SHARD_TOTAL-1 ({})",
                total - 1
            )));
        }
        Ok(Self::Range { first, last, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_key_is_refused_outside_development() {
        let key = |raw: Option<&str>, environment| {
            gateway_api_key(raw.map(str::to_owned), environment).map_err(|e| e.var)
        };
        assert_eq!(key(None, Environment::Development), Ok("dev-key".into()));
        assert_eq!(key(Some("k1"), Environment::Production), Ok("k1".into()));
        for environment in [Environment::Staging, Environment::Production] {
            assert_eq!(key(None, environment), Err("GATEWAY_API_KEY".into()));
            assert_eq!(
                key(Some("dev-key"), environment),
                Err("GATEWAY_API_KEY".into())
            );
        }
    }

    #[test]
    fn unset_means_autosharding() {
        assert_eq!(ShardSelection::parse(None, None), Ok(ShardSelection::Auto));
    }

    #[test]
    fn ranges_and_single_shards_parse() {
        assert_eq!(
            ShardSelection::parse(Some("0-1"), Some("4")),
            Ok(ShardSelection::Range {
                first: 0,
                last: 1,
                total: 4
            })
        );
        assert_eq!(
            ShardSelection::parse(Some("3"), Some("4")),
            Ok(ShardSelection::Range {
                first: 3,
                last: 3,
                total: 4
            })
        );
        assert_eq!(
            ShardSelection::parse(None, Some("2")),
            Ok(ShardSelection::Range {
                first: 0,
                last: 1,
                total: 2
            })
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let var = |shards, total| {
            ShardSelection::parse(shards, total)
                .map(|_| ())
                .map_err(|e| e.var)
        };
        assert_eq!(var(Some("0-1"), None), Err("DISCORD_SHARD_TOTAL".into()));
        assert_eq!(
            var(Some("0-1"), Some("zero")),
            Err("DISCORD_SHARD_TOTAL".into())
        );
        assert_eq!(var(None, Some("0")), Err("DISCORD_SHARD_TOTAL".into()));
        assert_eq!(var(Some("1-0"), Some("4")), Err("DISCORD_SHARDS".into()));
        assert_eq!(var(Some("2-4"), Some("4")), Err("DISCORD_SHARDS".into()));
        assert_eq!(var(Some("a-b"), Some("4")), Err("DISCORD_SHARDS".into()));
    }
}
