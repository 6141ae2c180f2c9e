//! `/live`, `/ready` and `/health`.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use super::registry::{Health, OverallStatus};

/// Reason `/ready` gives while the service shuts down.
const SHUTTING_DOWN: &str = "shutting down";

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/health", get(health_document))
        .with_state(health)
}

/// 200 whenever the process can answer; checks no dependency, so a
/// dependency outage never makes Kubernetes restart the pod.
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 `{"status":"ready","reasons":[]}` or 503
/// `{"status":"not_ready","reasons":["database: connection refused"]}`.
async fn ready(State(health): State<Health>) -> (StatusCode, Json<Value>) {
    let mut reasons = Vec::new();
    if health.shutdown().is_shutting_down() {
        // No need to ask the dependencies: the answer is no.
        reasons.push(SHUTTING_DOWN.to_owned());
    } else {
        reasons = health.report().await.readiness_failures();
    }
    let (status, word) = if reasons.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (status, Json(json!({ "status": word, "reasons": reasons })))
}

/// The detailed document; 503 unless `ok`.
async fn health_document(State(health): State<Health>) -> (StatusCode, Json<Value>) {
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
