//! The telemetry settings of a service, read from the environment
//! (12-factor). Each concern owns its settings: [`LoggingConfig`]
//! (`LOG_*`, and `LOKI_*` in [`LokiConfig`](crate::logging::loki::LokiConfig)),
//! [`TraceConfig`] (`OTEL_*`); [`env`] holds the helpers they all read with.

pub mod env;

pub use crate::logging::{LogFormat, LoggingConfig};
pub use crate::trace::TraceConfig;
pub use env::{
    CONFIG_EXIT_CODE, ConfigError, Environment, exit_on_error, http_url, http_url_or, load_dotenv,
    parse_or, port, var,
};

/// Settings of the telemetry pipeline, shared by every service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    pub environment: Environment,
    /// Format, filter, redaction and Loki shipping (`LOG_*`, `LOKI_*`).
    pub logging: LoggingConfig,
    /// Span export (`OTEL_*`: endpoint, protocol, sampler, resource).
    pub tracing: TraceConfig,
}

impl TelemetryConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let environment = parse_or("ENVIRONMENT", Environment::Development)?;
        Ok(Self {
            environment,
            logging: LoggingConfig::from_env(environment)?,
            tracing: TraceConfig::from_env(environment)?,
        })
    }
}
