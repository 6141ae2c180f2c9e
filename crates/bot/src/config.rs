//! The bot's settings, read from the environment.

use telemetry::{ConfigError, OpsConfig, TelemetryConfig, config};

pub const DEFAULT_HTTP_PORT: u16 = 3003;
pub const DEFAULT_GATEWAY_URL: &str = "http://localhost:3001";

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub http_port: u16,
    pub gateway_url: String,
    /// `None`: the bot serves its HTTP endpoints but does not connect.
    pub discord_token: Option<String>,
    pub telemetry: TelemetryConfig,
    /// METRICS_TOKEN and the shutdown timings.
    pub ops: OpsConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telemetry = TelemetryConfig::from_env()?;
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            http_port: config::port(&["PORT", "BOT_HTTP_PORT"], DEFAULT_HTTP_PORT)?,
            gateway_url: config::http_url_or("GATEWAY_URL", DEFAULT_GATEWAY_URL)?,
            discord_token: config::var("DISCORD_TOKEN"),
            ops: OpsConfig::from_env(telemetry.environment)?,
            telemetry,
        })
    }
}
