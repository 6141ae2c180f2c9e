//! A short run against an in-test gateway stand-in that classifies and
//! answers every request: each kind is sent, and the summary's counts match
//! what the stub saw.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Request, State},
    http::StatusCode,
};
use demo_traffic::{Args, plan::MIX, run::run};
use serde_json::Value;

#[derive(Default)]
struct Seen {
    by_kind: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
    bad_auth: u64,
}

type Shared = Arc<Mutex<Seen>>;

const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(900);

/// What the request is, judged from the wire only, and the status to answer.
fn classify(
    method: &str,
    path: &str,
    query: &str,
    fault: Option<&str>,
    body: &[u8],
) -> (&'static str, StatusCode) {
    // A backend honouring the fault would answer so (the gateway's 504 for
    // a delay past its upstream timeout).
    match fault.map(|f| {
        (
            f,
            f.strip_prefix("delay=")
                .and_then(|ms| ms.parse::<u64>().ok()),
        )
    }) {
        Some(("database", _)) => return ("database_failure", StatusCode::SERVICE_UNAVAILABLE),
        Some((_, Some(ms))) if ms >= UPSTREAM_TIMEOUT.as_millis() as u64 => {
            return ("upstream_timeout", StatusCode::GATEWAY_TIMEOUT);
        }
        _ => {}
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["events"]) => {
            let known = ["member_join", "member_leave", "message_create", "ban_add"];
            let valid = json
                .as_ref()
                .and_then(|j| j["events"].as_array().cloned())
                .is_some_and(|events| {
                    !events.is_empty()
                        && events
                            .iter()
                            .all(|e| known.contains(&e["type"].as_str().unwrap_or_default()))
                });
            if valid {
                ("events", StatusCode::ACCEPTED)
            } else {
                ("bad_body", StatusCode::BAD_REQUEST)
            }
        }
        ("GET", ["api", "guilds", id, "stats"]) => {
            if id.parse::<u64>().is_err() {
                ("bad_id", StatusCode::BAD_REQUEST)
            } else if query == "window=24h" {
                ("stats", StatusCode::OK)
            } else {
                ("slow_stats", StatusCode::OK)
            }
        }
        ("POST", ["api", "guilds", _, "moderation"]) => {
            let actions = ["warn", "timeout", "kick", "ban"];
            let valid = json
                .as_ref()
                .is_some_and(|j| actions.contains(&j["action"].as_str().unwrap_or_default()));
            if valid {
                ("moderation_post", StatusCode::CREATED)
            } else {
                ("bad_body", StatusCode::BAD_REQUEST)
            }
        }
        ("GET", ["api", "guilds", _, "moderation"]) => ("moderation_list", StatusCode::OK),
        ("GET", ["api", "guilds", _, "members"]) => ("member_list", StatusCode::OK),
        ("GET", ["api", "guilds", id]) if id.parse::<u64>().is_ok() => {
            ("guild_get", StatusCode::OK)
        }
        ("PUT", ["api", "guilds", id]) if id.parse::<u64>().is_ok() && json.is_some() => {
            ("guild_put", StatusCode::OK)
        }
        _ => ("unknown_route", StatusCode::NOT_FOUND),
    }
}

async fn stub(State(seen): State<Shared>, request: Request) -> (StatusCode, &'static str) {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let (kind, status) = classify(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or_default(),
        parts
            .headers
            .get("x-demo-fault")
            .and_then(|v| v.to_str().ok()),
        &body,
    );
    let mut seen = seen.lock().unwrap();
    *seen.by_kind.entry(kind.to_owned()).or_default() += 1;
    *seen
        .by_status
        .entry(status.as_u16().to_string())
        .or_default() += 1;
    if parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some("Bearer demo-key")
    {
        seen.bad_auth += 1;
    }
    (status, "{}")
}

#[tokio::test]
async fn a_short_run_sends_every_kind_and_counts_what_the_gateway_saw() {
    let seen: Shared = Arc::default();
    let app = Router::new().fallback(stub).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let args = Args {
        gateway_url: url,
        api_key: "demo-key".into(),
        duration: Duration::from_millis(1500),
        rate: 40.0,
        guilds: 3,
        seed: 11,
        upstream_timeout: UPSTREAM_TIMEOUT,
    };
    let progress_calls = Arc::new(Mutex::new(0u32));
    let calls = progress_calls.clone();
    let summary = run(&args, move |_| *calls.lock().unwrap() += 1)
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(summary.requests + summary.skipped, 60, "{summary}");
    assert_eq!(summary.skipped, 0, "{summary}");
    assert_eq!(summary.by_status, seen.by_status, "{summary}");
    assert_eq!(summary.by_kind, seen.by_kind, "{summary}");
    for (kind, _) in MIX {
        assert!(
            seen.by_kind.contains_key(kind.as_str()),
            "{kind:?} never sent: {summary}"
        );
    }
    assert_eq!(seen.bad_auth, 0);
    assert!(summary.p50 <= summary.p95 && summary.p95 <= summary.p99 && summary.p99 <= summary.max);
    assert!(*progress_calls.lock().unwrap() >= 1, "no progress line");
}

#[tokio::test]
async fn a_missing_gateway_is_counted_as_connection_errors() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let args = Args {
        gateway_url: format!("http://127.0.0.1:{port}"),
        duration: Duration::from_millis(200),
        rate: 20.0,
        ..Args::default()
    };
    let summary = run(&args, |_| {}).await.unwrap();
    assert_eq!(summary.requests, 4);
    assert_eq!(
        summary.by_status.get("error:connect"),
        Some(&4),
        "{summary}"
    );
}
