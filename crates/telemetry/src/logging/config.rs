//! Logging settings (`LOG_FORMAT`, `LOG_LEVEL`/`RUST_LOG`,
//! `LOG_REDACT_KEYS`, `LOG_HASH_SALT`, and the `LOKI_*` of
//! [`LokiConfig`]).

use std::str::FromStr;

use super::loki::LokiConfig;
use crate::{
    config::env::{ConfigError, Environment, parse_or, var},
    secrets::Secret,
};

/// Console log format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when the terminal allows it.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("expected pretty or json"),
        }
    }
}

/// Everything the logging pipeline reads from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `LOG_FORMAT`: pretty in development, JSON elsewhere by default.
    pub format: LogFormat,
    /// `RUST_LOG` syntax; `LOG_LEVEL` wins over `RUST_LOG`; `None` = the
    /// environment's default level.
    pub filter: Option<String>,
    /// `LOG_REDACT_KEYS`: extra field names to redact (comma-separated).
    pub redact_keys: Vec<String>,
    /// `LOG_HASH_SALT`: salt of [`hash_email`](super::hash_email) and of the
    /// backend's pseudonyms of erased users. Required in production.
    pub hash_salt: Option<Secret<String>>,
    /// `LOKI_URL` and the other `LOKI_*` shipping settings.
    pub loki: LokiConfig,
}

impl Default for LoggingConfig {
    /// The development defaults: pretty, default filter, no Loki.
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: None,
            redact_keys: Vec::new(),
            hash_salt: None,
            loki: LokiConfig::default(),
        }
    }
}

impl LoggingConfig {
    pub fn from_env(environment: Environment) -> Result<Self, ConfigError> {
        let default_format = match environment {
            Environment::Development => LogFormat::Pretty,
            Environment::Staging | Environment::Production => LogFormat::Json,
        };
        Ok(Self {
            format: parse_or("LOG_FORMAT", default_format)?,
            filter: var("LOG_LEVEL").or_else(|| var("RUST_LOG")),
            redact_keys: var("LOG_REDACT_KEYS")
                .map(|keys| {
                    keys.split(',')
                        .map(|k| k.trim().to_owned())
                        .filter(|k| !k.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            hash_salt: hash_salt(var(HASH_SALT_VAR), environment)?.map(Secret::new),
            loki: LokiConfig::from_env()?,
        })
    }
}

const HASH_SALT_VAR: &str = "LOG_HASH_SALT";

/// Production sets its own salt: the built-in one is in this source, so
/// anyone could hash candidate addresses or ids and match the pseudonyms.
fn hash_salt(
    salt: Option<String>,
    environment: Environment,
) -> Result<Option<String>, ConfigError> {
    match salt {
        None if environment == Environment::Production => Err(ConfigError::new(
            HASH_SALT_VAR,
            "",
            "required in production (a random secret, e.g. `openssl rand -hex 32`): \
             the built-in salt is public",
        )),
        salt => Ok(salt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_salt_is_required_in_production_only() {
        let error = hash_salt(None, Environment::Production).unwrap_err();
        assert_eq!(error.var, HASH_SALT_VAR);
        assert_eq!(error.to_string().lines().count(), 1, "{error}");
        for environment in [Environment::Development, Environment::Staging] {
            assert_eq!(hash_salt(None, environment), Ok(None));
        }
        assert_eq!(
            hash_salt(Some("s3cret".into()), Environment::Production),
            Ok(Some("s3cret".into()))
        );
    }

    #[test]
    fn format_parses_case_insensitively() {
        assert_eq!("Json".parse(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
