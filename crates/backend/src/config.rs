//! The backend's settings, read from the environment.

use telemetry::{ConfigError, OpsConfig, TelemetryConfig, config};

pub const DEFAULT_PORT: u16 = 3000;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/backend.db?mode=rwc";

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub database_url: String,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: config::port(&["PORT", "BACKEND_PORT"], DEFAULT_PORT)?,
            database_url: database_url()?,
            ops: OpsConfig::from_env(telemetry.environment)?,
            telemetry,
        })
    }
}

fn database_url() -> Result<String, ConfigError> {
    let url = config::var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let supported = ["sqlite:", "postgres://", "postgresql://"];
    if supported.iter().any(|prefix| url.starts_with(prefix)) {
        Ok(url)
    } else {
        Err(ConfigError::new(
            "DATABASE_URL",
            &url,
            "expected a sqlite: or postgres:// URL",
        ))
    }
}
