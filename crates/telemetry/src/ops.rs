//! The operational router every service merges: probes (and, later, metrics).

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

/// `GET /live`: answers whenever the process can; checks no dependency, so a
/// dependency outage never makes Kubernetes restart the pod.
pub fn router() -> Router {
    Router::new().route("/live", get(live))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
