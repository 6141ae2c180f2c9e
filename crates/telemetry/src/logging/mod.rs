//! The logging pipeline: one `tracing` subscriber composed of layers.

use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::{
    InitError, ServiceInfo, config::Environment, config::LogFormat, config::TelemetryConfig,
};

/// Dependencies that are chatty at `info`/`debug`; kept at `warn` unless the
/// filter names them.
const QUIET_DEPENDENCIES: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tungstenite",
    "tokio_tungstenite",
    "serenity",
    "poise",
    "sqlx",
    "tower",
    "tower_http",
    "opentelemetry",
    "opentelemetry_sdk",
];

/// A layer added next to ours (the OpenTelemetry layer).
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Builds the filter: the configured directives, or the environment's default
/// level, plus `warn` for noisy dependencies not named explicitly.
pub fn env_filter(config: &TelemetryConfig) -> EnvFilter {
    let base = config.log_filter.clone().unwrap_or_else(|| {
        match config.environment {
            Environment::Development => "debug",
            Environment::Staging | Environment::Production => "info",
        }
        .to_owned()
    });
    let mut directives = base.clone();
    for dependency in QUIET_DEPENDENCIES {
        if !base.contains(dependency) {
            directives.push_str(&format!(",{dependency}=warn"));
        }
    }
    EnvFilter::builder().parse_lossy(directives)
}

/// Installs the global subscriber and the `log` bridge.
pub fn install(
    service: ServiceInfo,
    config: &TelemetryConfig,
    extra_layers: Vec<BoxedLayer>,
) -> Result<(), InitError> {
    let _ = service;
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_ansi(matches!(config.log_format, LogFormat::Pretty));
    tracing_subscriber::registry()
        .with(extra_layers)
        .with(env_filter(config))
        .with(console)
        .try_init()
        .map_err(|_| InitError::SubscriberAlreadySet)
}
