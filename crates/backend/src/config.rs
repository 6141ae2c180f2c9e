//! The backend's settings, read from the environment.

use std::time::Duration;

use telemetry::{ConfigError, Environment, OpsConfig, TelemetryConfig, config, secrets::SecretUrl};

use crate::{retention::RetentionConfig, store::SqliteFile};

pub const DEFAULT_PORT: u16 = 3000;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/backend.db?mode=rwc";
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// May carry credentials: `Debug` hides them.
    pub database_url: SecretUrl,
    /// Pool size; SQLite serialises writes anyway, PostgreSQL benefits.
    pub database_max_connections: u32,
    /// Upper bound on a request's handling time (answered 503 JSON `handler_timeout` past it).
    pub request_timeout: Duration,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
    /// `DEMO_FAULTS`: honour `X-Demo-Fault` (see `crate::faults`).
    pub demo_faults: bool,
    /// `*_RETENTION_DAYS` and the job's pace (see `crate::retention`).
    pub retention: RetentionConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: config::port(&["PORT", "BACKEND_PORT"], DEFAULT_PORT)?,
            database_url: SecretUrl::new(database_url()?),
            database_max_connections: positive(
                "DATABASE_MAX_CONNECTIONS",
                DEFAULT_DATABASE_MAX_CONNECTIONS,
            )?,
            request_timeout: Duration::from_millis(positive(
                "REQUEST_TIMEOUT_MS",
                DEFAULT_REQUEST_TIMEOUT_MS,
            )?),
            ops: OpsConfig::from_env(telemetry.environment)?,
            demo_faults: demo_faults(telemetry.environment)?,
            retention: RetentionConfig::from_env()?,
            telemetry,
        })
    }
}

fn positive<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialEq + From<u8> + Copy,
    T::Err: std::fmt::Display,
{
    let value = config::parse_or(name, default)?;
    if value == T::from(0) {
        return Err(ConfigError::new(name, "0", "must be greater than 0"));
    }
    Ok(value)
}

/// On by default in development only; a production backend never lets a
/// client slow it down or fail it on purpose.
fn demo_faults(environment: Environment) -> Result<bool, ConfigError> {
    const VAR: &str = "DEMO_FAULTS";
    let on = config::parse_or(VAR, environment == Environment::Development)?;
    if on && environment == Environment::Production {
        return Err(ConfigError::new(VAR, "true", "must be off in production"));
    }
    Ok(on)
}

fn database_url() -> Result<String, ConfigError> {
    let url = config::var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let supported = ["sqlite:", "postgres://", "postgresql://"];
    if !supported.iter().any(|prefix| url.starts_with(prefix)) {
        return Err(ConfigError::new(
            "DATABASE_URL",
            &url,
            "expected a sqlite: or postgres:// URL",
        ));
    }
    // An explicit mode=rw or mode=ro never creates the file: say what to
    // change rather than sqlx's "unable to open database file".
    if let Some(file) = SqliteFile::parse(&url)
        && !file.creates()
        && !std::path::Path::new(file.path).exists()
    {
        let mode = file.mode.unwrap_or_default();
        return Err(ConfigError::new(
            "DATABASE_URL",
            &url,
            format!(
                "{} does not exist and mode={mode} never creates it: use mode=rwc (or no mode) to create it",
                file.path
            ),
        ));
    }
    Ok(url)
}
