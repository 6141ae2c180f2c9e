//! The registry: runs the checks concurrently under a timeout, caches the
//! report, and folds it into an overall status.

use std::{
    collections::BTreeMap,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::sync::Mutex;

use super::check::{Check, CheckOutcome, Criticality};
use crate::{ServiceInfo, shutdown::Shutdown};

/// How long one check may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a report is reused: probes from several kubelets, load balancers
/// and humans within this window cost one round of checks.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

static CHECK_UP: LazyLock<crate::metrics::GaugeVec> = LazyLock::new(|| {
    crate::metrics::gauge_vec(
        "health_check_up",
        "1 when the named health check passed at its last run, 0 otherwise",
        &["check"],
    )
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    pub timeout: Duration,
    pub cache_ttl: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_ms: u64,
    /// Whether a failure takes the service out of rotation.
    pub critical: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    Ok,
    Degraded,
    Down,
}

/// One evaluation of every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub checks: BTreeMap<String, CheckReport>,
}

impl HealthReport {
    /// `down` when a critical check fails, `degraded` when only
    /// informational ones do, `ok` otherwise.
    pub fn status(&self) -> OverallStatus {
        let failing = |critical: bool| {
            self.checks
                .values()
                .any(|c| c.critical == critical && c.status == CheckStatus::Error)
        };
        if failing(true) {
            OverallStatus::Down
        } else if failing(false) {
            OverallStatus::Degraded
        } else {
            OverallStatus::Ok
        }
    }

    /// The name of every failing critical check (what `/ready` tells a
    /// caller without the ops token).
    pub fn failing_critical_checks(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|(_, c)| c.critical && c.status == CheckStatus::Error)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `name: message` of every failing critical check.
    pub fn readiness_failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|(_, c)| c.critical && c.status == CheckStatus::Error)
            .map(|(name, c)| match &c.message {
                Some(message) => format!("{name}: {message}"),
                None => name.clone(),
            })
            .collect()
    }
}

/// The service's health: its checks, their cache and the shutdown state
/// (cheap to clone).
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    service: ServiceInfo,
    checks: Vec<Arc<dyn Check>>,
    settings: HealthSettings,
    shutdown: Shutdown,
    started: Instant,
    cache: Mutex<Option<(Instant, Arc<HealthReport>)>>,
}

impl Health {
    pub fn new(
        service: ServiceInfo,
        checks: Vec<Arc<dyn Check>>,
        settings: HealthSettings,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                service,
                checks,
                settings,
                shutdown,
                started: Instant::now(),
                cache: Mutex::new(None),
            }),
        }
    }

    pub fn service(&self) -> ServiceInfo {
        self.inner.service
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The current report: the cached one when younger than the TTL, else a
    /// fresh run. Concurrent callers wait for the same run (single flight).
    pub async fn report(&self) -> Arc<HealthReport> {
        let mut cache = self.inner.cache.lock().await;
        if let Some((at, report)) = cache.as_ref()
            && at.elapsed() < self.inner.settings.cache_ttl
        {
            return Arc::clone(report);
        }
        let report = Arc::new(self.run_checks().await);
        log_changes(
            cache.as_ref().map(|(_, previous)| previous.as_ref()),
            &report,
        );
        *cache = Some((Instant::now(), Arc::clone(&report)));
        report
    }

    async fn run_checks(&self) -> HealthReport {
        let timeout = self.inner.settings.timeout;
        // Spawned, so they run concurrently and a panicking check is isolated.
        let runs: Vec<_> = self
            .inner
            .checks
            .iter()
            .map(|check| {
                let check = Arc::clone(check);
                tokio::spawn(async move {
                    let start = Instant::now();
                    let outcome = tokio::time::timeout(timeout, check.check())
                        .await
                        .unwrap_or_else(|_| {
                            CheckOutcome::failed(format!(
                                "timed out after {}ms",
                                timeout.as_millis()
                            ))
                        });
                    (outcome, start.elapsed())
                })
            })
            .collect();
        let mut checks = BTreeMap::new();
        for (check, run) in self.inner.checks.iter().zip(runs) {
            let (outcome, elapsed) = run
                .await
                .unwrap_or_else(|_| (CheckOutcome::failed("the check panicked"), Duration::ZERO));
            CHECK_UP
                .with_label_values(&[check.name()])
                .set(i64::from(outcome.healthy));
            checks.insert(
                check.name().to_owned(),
                CheckReport {
                    status: if outcome.healthy {
                        CheckStatus::Ok
                    } else {
                        CheckStatus::Error
                    },
                    message: outcome.message,
                    duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                    critical: check.criticality() == Criticality::Critical,
                },
            );
        }
        HealthReport { checks }
    }
}

/// Logs each check whose status changed (the probe requests themselves log
/// at debug): a failure at warn, a recovery at info.
fn log_changes(previous: Option<&HealthReport>, current: &HealthReport) {
    for (name, check) in &current.checks {
        let before = previous.and_then(|p| p.checks.get(name)).map(|c| c.status);
        let message = check.message.as_deref().unwrap_or_default();
        match (before, check.status) {
            (Some(CheckStatus::Ok) | None, CheckStatus::Error) => {
                tracing::warn!(context = "Health", check = %name, critical = check.critical, message, "health check failing");
            }
            (Some(CheckStatus::Error), CheckStatus::Ok) => {
                tracing::info!(context = "Health", check = %name, "health check recovered");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{
        health::check_fn,
        shutdown::{Shutdown, ShutdownConfig},
    };

    const SERVICE: ServiceInfo = ServiceInfo {
        name: "test",
        version: "0.0.0",
    };

    fn shutdown() -> Shutdown {
        Shutdown::new(ShutdownConfig {
            grace: Duration::ZERO,
            timeout: Duration::from_secs(1),
        })
    }

    fn counting(name: &'static str, calls: &Arc<AtomicUsize>, healthy: bool) -> Arc<dyn Check> {
        let calls = Arc::clone(calls);
        Arc::new(check_fn(name, Criticality::Critical, move || {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if healthy {
                    CheckOutcome::ok()
                } else {
                    CheckOutcome::failed("down")
                }
            }
        }))
    }

    #[tokio::test]
    async fn a_slow_check_fails_at_the_timeout_without_delaying_the_others() {
        let slow: Arc<dyn Check> = Arc::new(check_fn("slow", Criticality::Critical, || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            CheckOutcome::ok()
        }));
        let calls = Arc::new(AtomicUsize::new(0));
        let settings = HealthSettings {
            timeout: Duration::from_millis(100),
            cache_ttl: Duration::ZERO,
        };
        let health = Health::new(
            SERVICE,
            vec![slow, counting("fast", &calls, true)],
            settings,
            shutdown(),
        );
        let report = tokio::time::timeout(Duration::from_secs(10), health.report())
            .await
            .expect("the timeout bounds the evaluation");
        let slow = &report.checks["slow"];
        assert_eq!(slow.status, CheckStatus::Error);
        assert_eq!(slow.message.as_deref(), Some("timed out after 100ms"));
        assert!(slow.duration_ms >= 100);
        assert_eq!(report.checks["fast"].status, CheckStatus::Ok);
        assert_eq!(report.status(), OverallStatus::Down);
    }

    #[tokio::test]
    async fn a_probe_storm_runs_the_checks_once_per_ttl() {
        let calls = Arc::new(AtomicUsize::new(0));
        let settings = HealthSettings {
            timeout: Duration::from_secs(2),
            cache_ttl: Duration::from_secs(3600),
        };
        let health = Health::new(
            SERVICE,
            vec![counting("db", &calls, true)],
            settings,
            shutdown(),
        );
        let storm: Vec<_> = (0..200)
            .map(|_| {
                let health = health.clone();
                tokio::spawn(async move { health.report().await })
            })
            .collect();
        for probe in storm {
            assert_eq!(probe.await.unwrap().status(), OverallStatus::Ok);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_expired_report_is_refreshed() {
        let calls = Arc::new(AtomicUsize::new(0));
        let settings = HealthSettings {
            timeout: Duration::from_secs(2),
            cache_ttl: Duration::ZERO,
        };
        let health = Health::new(
            SERVICE,
            vec![counting("db", &calls, true)],
            settings,
            shutdown(),
        );
        health.report().await;
        health.report().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn informational_failures_degrade_without_failing_readiness() {
        let calls = Arc::new(AtomicUsize::new(0));
        let loki: Arc<dyn Check> =
            Arc::new(check_fn("loki", Criticality::Informational, || async {
                CheckOutcome::failed("unreachable")
            }));
        let health = Health::new(
            SERVICE,
            vec![counting("db", &calls, true), loki],
            HealthSettings::default(),
            shutdown(),
        );
        let report = health.report().await;
        assert_eq!(report.status(), OverallStatus::Degraded);
        assert!(report.readiness_failures().is_empty());
    }
}
