//! The logging pipeline: one `tracing` subscriber composed of layers:
//! `EnvFilter`, the console (pretty or JSON), Loki when `LOKI_URL` is set,
//! plus any layer the caller adds (OpenTelemetry). `log` records from
//! dependencies are bridged in. Redaction happens when an event is
//! captured, so no output can see a sensitive value.

pub mod capture;
pub mod console;
pub mod format;
pub mod loki;
pub mod metrics;
pub mod record;
pub mod redact;
pub mod trace_ids;

use std::{io::IsTerminal as _, sync::Arc};

use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt,
};

pub use capture::CapturedOutput;
pub use console::{ConsoleLayer, ConsoleStyle};
pub use format::ServiceMeta;
pub use redact::{REDACTED, Redactor, hash_email, mask_ip, mask_ip_str};

use crate::{
    InitError, ServiceInfo,
    config::{ConfigError, Environment, LogFormat, TelemetryConfig, var},
};
use loki::{Diagnostics, FlushReport, LokiConfig, LokiShipper};

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

/// Logging settings beyond the format and filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoggingConfig {
    /// `LOG_REDACT_KEYS`: extra field names to redact (comma-separated).
    pub redact_keys: Vec<String>,
    /// `LOG_HASH_SALT`: salt of [`hash_email`].
    pub hash_salt: Option<String>,
    /// `LOKI_*` shipping settings.
    pub loki: LokiConfig,
}

impl LoggingConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            redact_keys: var("LOG_REDACT_KEYS")
                .map(|keys| {
                    keys.split(',')
                        .map(|k| k.trim().to_owned())
                        .filter(|k| !k.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            hash_salt: var("LOG_HASH_SALT"),
            loki: LokiConfig::from_env()?,
        })
    }
}

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

/// The console style `config` asks for, colour decided from the environment.
pub fn console_style(config: &TelemetryConfig) -> ConsoleStyle {
    match config.log_format {
        LogFormat::Json => ConsoleStyle::Json,
        LogFormat::Pretty => ConsoleStyle::Pretty {
            color: console::color_from_env(std::io::stdout().is_terminal()),
        },
    }
}

/// Diagnostics of the shipper, written on stderr in the console's style
/// with the context `Loki`; they never enter the Loki queue.
pub fn console_diagnostics(style: ConsoleStyle, meta: Arc<ServiceMeta>) -> Diagnostics {
    Arc::new(move |level: Level, message: String| {
        let record = record::Record {
            time: std::time::SystemTime::now(),
            level,
            message,
            context: "Loki".to_owned(),
            fields: Vec::new(),
            trace: None,
        };
        eprint!("{}", style.render(&record, &meta));
    })
}

/// Owns the Loki shipper; [`LoggingGuard::shutdown`] flushes it.
#[must_use = "dropping the guard without calling shutdown() may lose buffered logs"]
pub struct LoggingGuard {
    shipper: Option<LokiShipper>,
    diagnostics: Option<Diagnostics>,
}

impl LoggingGuard {
    /// Flushes Loki within `LOKI_FLUSH_TIMEOUT` and prints one line saying
    /// how many events were flushed and dropped.
    pub async fn shutdown(self) -> Option<FlushReport> {
        let shipper = self.shipper?;
        let report = shipper.shutdown().await;
        if let Some(diagnostics) = self.diagnostics {
            match report {
                Some(report) => diagnostics(Level::INFO, report.to_string()),
                None => diagnostics(
                    Level::WARN,
                    "Loki flush: the shipper did not answer within LOKI_FLUSH_TIMEOUT; buffered events are lost".to_owned(),
                ),
            }
        }
        report
    }
}

/// Installs the global subscriber (and the `log` bridge) for `service`.
pub fn install(
    service: ServiceInfo,
    config: &TelemetryConfig,
    extra_layers: Vec<BoxedLayer>,
) -> Result<LoggingGuard, InitError> {
    let meta = Arc::new(ServiceMeta::new(service, config.environment));
    let redactor = Redactor::new(&config.logging.redact_keys);
    if let Some(salt) = &config.logging.hash_salt {
        redact::set_email_salt(salt);
    }
    let style = console_style(config);
    let console = ConsoleLayer::new(std::io::stdout, style, Arc::clone(&meta), redactor.clone());
    let diagnostics = console_diagnostics(style, Arc::clone(&meta));
    let (loki_layer, shipper) = match &config.loki_url {
        Some(url) => {
            let (layer, shipper) = loki::start(
                url,
                &config.logging.loki,
                Arc::clone(&meta),
                redactor,
                Arc::clone(&diagnostics),
            )
            .map_err(|error| InitError::Loki(error.to_string()))?;
            (Some(layer), Some(shipper))
        }
        None => (None, None),
    };
    // An empty `Vec` layer would disable every callsite (it combines no
    // interest): add it only when it holds something. `try_init` also
    // installs the `log` bridge (tracing-log's LogTracer).
    let extra_layers = (!extra_layers.is_empty()).then_some(extra_layers);
    // Boxed, not an `Option`: tracing-subscriber's `Option<Layer>` does not
    // forward `on_register_dispatch`, and without it the Loki layer cannot
    // read the span's trace ids.
    let loki_layer = match loki_layer {
        Some(layer) => layer.boxed(),
        None => tracing_subscriber::layer::Identity::new().boxed(),
    };
    tracing_subscriber::registry()
        .with(extra_layers)
        .with(env_filter(config))
        .with(console)
        .with(loki_layer)
        .try_init()
        .map_err(|_| InitError::SubscriberAlreadySet)?;
    match &config.loki_url {
        Some(url) => tracing::info!(context = "Logging", "Logs shipped to Loki: {url}"),
        None => tracing::info!(
            context = "Logging",
            "Loki disabled (LOKI_URL empty): console only"
        ),
    }
    Ok(LoggingGuard {
        shipper,
        diagnostics: Some(diagnostics),
    })
}
