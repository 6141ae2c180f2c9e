//! Every check, run concurrently; each request under the same short timeout.

pub mod clock;
pub mod grafana;
pub mod loki;
pub mod prometheus;
pub mod services;
pub mod tempo;

use std::time::Instant;

use crate::{config::DoctorConfig, probe::Probe, report::Report};

/// Where each hint sends the reader (paths in the repository; a test
/// checks that each file and heading exists).
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

    pub const ALL: [&str; 11] = [
        APP_DOWN,
        BOT,
        BOT_DISCONNECTED,
        LOG_SHIPPING,
        LOKI,
        LOKI_DOWN,
        NO_DATA,
        ALERTS,
        TRACES,
        GRAFANA,
        CLOCK,
    ];
}

/// Runs every check concurrently and collects the report.
pub async fn run(config: &DoctorConfig, probe: &Probe) -> Report {
    let started = Instant::now();
    let services = futures_util::future::join_all(
        config
            .services
            .iter()
            .map(|service| services::check(probe, service, config.metrics.token.as_deref())),
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

#[cfg(test)]
mod tests {
    use super::links;

    /// GitHub's anchor of a Markdown heading.
    fn anchor(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_link_points_at_an_existing_file_and_heading() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for link in links::ALL {
            let (path, fragment) = link.split_once('#').unwrap_or((link, ""));
            let text = std::fs::read_to_string(repo.join(path))
                .unwrap_or_else(|error| panic!("{link}: {error}"));
            if fragment.is_empty() {
                continue;
            }
            let anchors: Vec<String> = text
                .lines()
                .filter_map(|line| {
                    line.strip_prefix("#")
                        .map(|h| anchor(h.trim_start_matches('#')))
                })
                .collect();
            assert!(
                anchors.iter().any(|a| a == fragment),
                "{link}: no such heading in {path}"
            );
        }
    }

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor(" \"connection refused\" / push failures to Loki"),
            "connection-refused--push-failures-to-loki"
        );
        assert_eq!(
            anchor(" Empty dashboard or \"No data\""),
            "empty-dashboard-or-no-data"
        );
    }
}
