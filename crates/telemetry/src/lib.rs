//! Observability shared by every service: configuration from the environment,
//! logging, the operational router (`/live`, ...) and graceful shutdown.
//!
//! A service calls [`init`] once at startup and keeps the returned
//! [`Telemetry`] guard until it exits; [`Telemetry::shutdown`] flushes.

#![warn(unreachable_pub)]

pub mod batching;
pub mod config;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod secrets;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod trace;

pub use config::{ConfigError, Environment, TelemetryConfig};
pub use ops::{Ops, OpsConfig};
pub use shutdown::{Shutdown, serve};

/// Who is emitting telemetry: stamped on every log line, metric and span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Short lowercase name (`backend`, `gateway`, `bot`).
    pub name: &'static str,
    /// The crate version, usually `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
}

/// Errors raised while installing the telemetry pipeline.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet,
    #[error("{0}")]
    Loki(String),
    #[error("cannot start the console writer thread: {0}")]
    Console(String),
    #[error(transparent)]
    Trace(#[from] trace::TraceInitError),
}

/// Keeps the telemetry pipeline alive; [`Telemetry::shutdown`] flushes it.
#[must_use = "dropping the guard without calling shutdown() may lose buffered telemetry"]
pub struct Telemetry {
    service: ServiceInfo,
    config: TelemetryConfig,
    logging: logging::LoggingGuard,
    traces: trace::Tracing,
}

impl Telemetry {
    pub fn service(&self) -> ServiceInfo {
        self.service
    }

    pub fn config(&self) -> &TelemetryConfig {
        &self.config
    }

    /// Flushes everything buffered. Call once, after the server has drained.
    pub async fn shutdown(self) {
        tracing::info!(context = "Shutdown", "shutdown complete");
        // Spans first: the flush's own diagnostics are logged, and the
        // log flush comes last so every line above is in its buffer.
        self.traces.shutdown().await;
        self.logging.shutdown().await;
    }
}

/// Installs the global `tracing` subscriber for `service`.
pub fn init(service: ServiceInfo, config: TelemetryConfig) -> Result<Telemetry, InitError> {
    // The OpenTelemetry layer is always installed, exporter or not, so
    // every span has ids that propagate and appear in log lines.
    let traces = trace::install(service, &config)?;
    let logging = logging::install(service, &config, vec![traces.boxed_layer()])?;
    Ok(Telemetry {
        service,
        config,
        logging,
        traces,
    })
}
