//! The operational surface every service merges: `/live`, `/ready`,
//! `/health`, `/metrics`, plus the shutdown state behind them.
//!
//! ```ignore
//! let ops = Ops::new(service, &config.ops).with_check(check_fn("database", Criticality::Critical, ...));
//! let app = routes().merge(ops.router()).layer(telemetry::http::layer());
//! ops.serve(listener, app).await?;
//! ```

use std::sync::Arc;

use axum::{Router, routing::get};
use tokio::net::TcpListener;

use crate::{
    ServiceInfo,
    config::{ConfigError, Environment},
    health::{Check, Health, HealthSettings},
    metrics::{MetricsConfig, metrics_handler, record_build_info, register_process_metrics},
    server::ServerConfig,
    shutdown::{Shutdown, ShutdownConfig},
};

/// Settings of the operational endpoints and of serving: `METRICS_TOKEN`,
/// `SHUTDOWN_GRACE_SECONDS`, `SHUTDOWN_TIMEOUT_SECONDS`,
/// `HTTP_HEADER_READ_TIMEOUT_MS`, `HTTP_MAX_CONNECTIONS`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpsConfig {
    pub metrics: MetricsConfig,
    pub shutdown: ShutdownConfig,
    pub server: ServerConfig,
}

impl OpsConfig {
    /// In production `METRICS_TOKEN` is required: it guards `/metrics`
    /// and the details of `/health` and `/ready`.
    pub fn from_env(environment: Environment) -> Result<Self, ConfigError> {
        let metrics = MetricsConfig::from_env()?;
        if environment == Environment::Production && metrics.token.is_none() {
            return Err(ConfigError::new(
                "METRICS_TOKEN",
                "",
                "required in production (it guards /metrics and the /health details; give Prometheus the same token)",
            ));
        }
        Ok(Self {
            metrics,
            shutdown: ShutdownConfig::from_env(environment)?,
            server: ServerConfig::from_env()?,
        })
    }
}

/// The service's health checks, metrics settings and shutdown state.
pub struct Ops {
    service: ServiceInfo,
    metrics: MetricsConfig,
    shutdown: Shutdown,
    server: ServerConfig,
    checks: Vec<Arc<dyn Check>>,
    health: HealthSettings,
}

impl Ops {
    /// Also sets `build_info`.
    pub fn new(service: ServiceInfo, config: &OpsConfig) -> Self {
        record_build_info(service);
        register_process_metrics();
        Self {
            service,
            metrics: config.metrics.clone(),
            shutdown: Shutdown::new(config.shutdown),
            server: config.server,
            checks: Vec::new(),
            health: HealthSettings::default(),
        }
    }

    /// Adds a health check (see [`crate::health`] for critical vs
    /// informational).
    #[must_use]
    pub fn with_check(mut self, check: impl Check) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    #[must_use]
    pub fn with_health_settings(mut self, settings: HealthSettings) -> Self {
        self.health = settings;
        self
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Serves `router` with the configured connection limits until the
    /// shutdown sequence completes (see [`crate::serve`]).
    pub async fn serve(&self, listener: TcpListener, router: Router) -> std::io::Result<()> {
        crate::serve(listener, router, &self.shutdown, self.server).await
    }

    /// `/live`, `/ready`, `/health` and `/metrics`. Call once: the health
    /// cache lives in the router.
    pub fn router(&self) -> Router {
        let health = Health::new(
            self.service,
            self.checks.clone(),
            self.health,
            self.shutdown.clone(),
        );
        crate::health::router(health, self.metrics.clone()).merge(
            Router::new()
                .route("/metrics", get(metrics_handler))
                .with_state(self.metrics.clone()),
        )
    }
}
