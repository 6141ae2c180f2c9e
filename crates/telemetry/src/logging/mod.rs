//! The logging pipeline: one `tracing` subscriber composed of layers:
//! `EnvFilter`, one output layer (the console, pretty or JSON, and Loki
//! when `LOKI_URL` is set), plus any layer the caller adds
//! (OpenTelemetry). `log` records from dependencies are bridged in. Each
//! event is captured and redacted once, when it happens, so no output can
//! see a sensitive value and none pays for the capture twice.

#[cfg(any(test, feature = "test-support"))]
pub mod capture;
mod config;
pub mod console;
pub mod console_buffer;
pub mod format;
pub mod loki;
pub mod metrics;
pub mod output;
pub mod record;
pub mod redact;
pub mod trace_ids;

use std::{io::IsTerminal as _, sync::Arc};

use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt,
};

#[cfg(any(test, feature = "test-support"))]
pub use capture::CapturedOutput;
pub use config::{LogFormat, LoggingConfig};
pub use console::ConsoleStyle;
pub use console_buffer::ConsoleBuffer;
pub use format::ServiceMeta;
pub use output::{ConsoleLayer, OutputLayer};
pub use redact::{REDACTED, Redactor, Treatment, hash_email, mask_ip, mask_ip_str};

use crate::{
    InitError, ServiceInfo,
    config::{Environment, TelemetryConfig},
};
use loki::{Diagnostics, FlushReport, LokiShipper};

/// How long shutdown waits for stdout to take the last console lines.
const CONSOLE_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

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
    let base = config.logging.filter.clone().unwrap_or_else(|| {
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
    match config.logging.format {
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

/// Owns the Loki shipper and the console writer; [`LoggingGuard::shutdown`]
/// flushes both.
#[must_use = "dropping the guard without calling shutdown() may lose buffered logs"]
pub struct LoggingGuard {
    shipper: Option<LokiShipper>,
    diagnostics: Diagnostics,
    console: ConsoleBuffer,
}

impl LoggingGuard {
    /// Flushes Loki within `LOKI_FLUSH_TIMEOUT` and prints one line saying
    /// how many events were flushed and dropped, then writes the last
    /// console lines.
    pub async fn shutdown(self) -> Option<FlushReport> {
        let mut report = None;
        if let Some(shipper) = self.shipper {
            report = shipper.shutdown().await;
            match report {
                Some(report) => (self.diagnostics)(Level::INFO, report.to_string()),
                None => (self.diagnostics)(
                    Level::WARN,
                    "Loki flush: the shipper did not answer within LOKI_FLUSH_TIMEOUT; buffered events are lost".to_owned(),
                ),
            }
        }
        let console = self.console;
        let _ = tokio::task::spawn_blocking(move || console.flush(CONSOLE_FLUSH_TIMEOUT)).await;
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
        redact::set_email_salt(salt.expose());
    }
    let style = console_style(config);
    let console = ConsoleBuffer::start(std::io::stdout(), console_buffer::DEFAULT_CAPACITY)
        .map_err(|error| InitError::Console(error.to_string()))?;
    let diagnostics = console_diagnostics(style, Arc::clone(&meta));
    let mut output = OutputLayer::new(console.clone(), style, Arc::clone(&meta), redactor);
    let mut shipper = None;
    if let Some(url) = &config.logging.loki.url {
        let (sink, started) =
            loki::start_sink(url, &config.logging.loki, &meta, Arc::clone(&diagnostics))
                .map_err(|error| InitError::Loki(error.to_string()))?;
        output = output.with_loki(sink);
        shipper = Some(started);
    }
    // An empty `Vec` layer would disable every callsite (it combines no
    // interest): add it only when it holds something. `try_init` also
    // installs the `log` bridge (tracing-log's LogTracer).
    let extra_layers = (!extra_layers.is_empty()).then_some(extra_layers);
    tracing_subscriber::registry()
        .with(extra_layers)
        .with(env_filter(config))
        .with(output)
        .try_init()
        .map_err(|_| InitError::SubscriberAlreadySet)?;
    match &config.logging.loki.url {
        Some(url) => tracing::info!(
            context = "Logging",
            "Logs shipped to Loki: {}",
            crate::secrets::sanitize_url(url)
        ),
        None => tracing::info!(
            context = "Logging",
            "Loki disabled (LOKI_URL empty): console only"
        ),
    }
    Ok(LoggingGuard {
        shipper,
        diagnostics,
        console,
    })
}
