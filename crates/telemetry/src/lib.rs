//! Observability shared by every service: configuration from the environment,
//! logging, the operational router (`/live`, ...) and graceful shutdown.
//!
//! A service calls [`init`] once at startup and keeps the returned
//! [`Telemetry`] guard until it exits; [`Telemetry::shutdown`] flushes.

pub mod config;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod service;
pub mod shutdown;

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
}

/// Keeps the telemetry pipeline alive; [`Telemetry::shutdown`] flushes it.
#[must_use = "dropping the guard without calling shutdown() may lose buffered telemetry"]
pub struct Telemetry {
    service: ServiceInfo,
    config: TelemetryConfig,
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
    }
}

/// Installs the global `tracing` subscriber for `service`.
pub fn init(service: ServiceInfo, config: TelemetryConfig) -> Result<Telemetry, InitError> {
    logging::install(service, &config)?;
    Ok(Telemetry { service, config })
}
