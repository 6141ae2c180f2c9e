//! `/live`, `/ready` and `/health`.
//!
//! Check messages can hold what an unauthenticated caller must not see (a
//! dependency's URL, an error chain naming hosts and files): they are shown
//! only to callers the ops token admits (`Authorization: Bearer
//! <METRICS_TOKEN>`, or anyone when no token is set, which production
//! refuses). Others get the statuses alone: overall, and up/down per check.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::get,
};
use serde_json::{Map, Value, json};

use super::registry::{Health, HealthReport, OverallStatus};
use crate::metrics::MetricsConfig;

/// Reason `/ready` gives while the service shuts down.
const SHUTTING_DOWN: &str = "shutting down";

#[derive(Clone)]
struct HealthState {
    health: Health,
    /// Who may read the details (the `/metrics` token).
    access: MetricsConfig,
}

pub fn router(health: Health, access: MetricsConfig) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/health", get(health_document))
        .with_state(HealthState { health, access })
}

/// 200 whenever the process can answer; checks no dependency, so a
/// dependency outage never makes Kubernetes restart the pod.
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 `{"status":"ready","reasons":[]}` or 503
/// `{"status":"not_ready","reasons":["database: connection refused"]}`
/// (`["database"]` for a caller without the ops token).
async fn ready(
    State(HealthState { health, access }): State<HealthState>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut reasons = Vec::new();
    if health.shutdown().is_shutting_down() {
        // No need to ask the dependencies: the answer is no.
        reasons.push(SHUTTING_DOWN.to_owned());
    } else {
        let report = health.report().await;
        reasons = if access.authorizes(&headers) {
            report.readiness_failures()
        } else {
            report.failing_critical_checks()
        };
    }
    let (status, word) = if reasons.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (status, Json(json!({ "status": word, "reasons": reasons })))
}

/// The detailed document (statuses only without the ops token); 503
/// unless `ok`.
async fn health_document(
    State(HealthState { health, access }): State<HealthState>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let report = health.report().await;
    let shutting_down = health.shutdown().is_shutting_down();
    let overall = if shutting_down {
        OverallStatus::Down
    } else {
        report.status()
    };
    let status = if overall == OverallStatus::Ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let service = health.service();
    if !access.authorizes(&headers) {
        let body = json!({
            "status": overall,
            "service": service.name,
            "shutting_down": shutting_down,
            "checks": statuses(&report),
        });
        return (status, Json(body));
    }
    let body = json!({
        "status": overall,
        "service": service.name,
        "version": service.version,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "uptime_seconds": health.uptime().as_secs(),
        "shutting_down": shutting_down,
        "checks": report.checks,
    });
    (status, Json(body))
}

/// `{"name": {"status": "ok"|"error", "critical": bool}}`: no message, no
/// timing.
fn statuses(report: &HealthReport) -> Value {
    let checks: Map<String, Value> = report
        .checks
        .iter()
        .map(|(name, check)| {
            (
                name.clone(),
                json!({ "status": check.status, "critical": check.critical }),
            )
        })
        .collect();
    Value::Object(checks)
}
