//! Every check, run concurrently; each request under the same short timeout.

pub mod clock;
pub mod grafana;
pub mod loki;
pub mod prometheus;
pub mod services;
pub mod tempo;

use std::time::Instant;

use crate::{config::DoctorConfig, probe::Probe, report::Report};

/// Where each hint sends the reader (paths in the repository).
pub mod links {
    pub const APP_DOWN: &str = "docs/runbooks/ApplicationDown.md";
    pub const BOT: &str = "docs/services.md";
    pub const BOT_DISCONNECTED: &str = "docs/runbooks/BotDisconnected.md";
    pub const LOG_SHIPPING: &str = "docs/runbooks/LogShippingDropping.md";
    pub const LOKI: &str = "docs/monitoring.md#logs-do-not-show-up-in-grafana";
    pub const LOKI_DOWN: &str = "docs/monitoring.md#connection-refused--push-failures-to-loki";
    pub const NO_DATA: &str = "docs/monitoring.md#empty-dashboard-or-no-data";
    pub const ALERTS: &str = "docs/monitoring.md#alerts-do-not-fire-or-do-not-arrive";
    pub const TRACES: &str = "docs/monitoring.md#traces-do-not-show-up";
    pub const GRAFANA: &str = "docs/monitoring.md#a-grafana-datasource-fails";
    pub const CLOCK: &str = "docs/monitoring.md#clock-skew";
}

/// Runs every check concurrently and collects the report.
pub async fn run(config: &DoctorConfig, probe: &Probe) -> Report {
    let started = Instant::now();
    let services = futures_util::future::join_all(
        config
            .services
            .iter()
            .map(|service| services::check(probe, service)),
    );
    let (services, logs, metrics, traces, dashboards, alertmanager) = futures_util::join!(
        services,
        loki::check(probe, config),
        prometheus::check(probe, config),
        tempo::check(probe, config),
        grafana::check(probe, config),
        prometheus::alertmanager(probe, config),
    );
    let mut checks: Vec<_> = services.into_iter().flatten().collect();
    checks.extend(logs);
    checks.extend(metrics);
    checks.extend(traces);
    checks.extend(dashboards);
    checks.push(alertmanager);
    Report::new(checks, started.elapsed())
}
