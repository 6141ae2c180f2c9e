//! The gateway's settings, read from the environment.

use telemetry::{ConfigError, OpsConfig, TelemetryConfig, config};

pub const DEFAULT_PORT: u16 = 3001;
pub const DEFAULT_BACKEND_URL: &str = "http://localhost:3000";

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub backend_url: String,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: config::port(&["PORT", "GATEWAY_PORT"], DEFAULT_PORT)?,
            backend_url: config::http_url_or("BACKEND_URL", DEFAULT_BACKEND_URL)?,
            ops: OpsConfig::from_env(telemetry.environment)?,
            telemetry,
        })
    }
}
