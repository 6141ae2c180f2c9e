//! The gateway's probes as a real process: `/ready` follows the backend's
//! reachability; `/live` never does; `/metrics` honours `METRICS_TOKEN`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use testkit::ServiceBuilder;

async fn get(url: &str) -> (u16, String) {
    let response = testkit::http_client().get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn ready_follows_the_backend_and_live_does_not() {
    let backend_port = testkit::free_port();
    let mut gateway = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", format!("http://127.0.0.1:{backend_port}"))
        .spawn();
    gateway.wait_live().await;

    let (status, body) = get(&gateway.url("/ready")).await;
    assert_eq!(status, 503, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "not_ready");
    let reason = ready["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("backend: GET http://127.0.0.1:"),
        "{reason}"
    );

    let (status, body) = get(&gateway.url("/health")).await;
    assert_eq!(status, 503);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "down");
    assert_eq!(health["service"], "gateway");
    assert_eq!(health["checks"]["backend"]["status"], "error");
    assert_eq!(get(&gateway.url("/live")).await.0, 200);

    let backend_dir = std::env::temp_dir().join(format!("gateway-readiness-{backend_port}"));
    std::fs::create_dir_all(&backend_dir).unwrap();
    let mut backend = ServiceBuilder::new("backend")
        .env("PORT", backend_port.to_string())
        .current_dir(&backend_dir)
        .spawn();
    backend.port = backend_port;
    backend.wait_live().await;

    let url = gateway.url("/ready");
    testkit::poll_until(Duration::from_secs(15), "gateway /ready 200", || {
        let url = url.clone();
        async move { (get(&url).await.0 == 200).then_some(()) }
    })
    .await;
    let (status, body) = get(&gateway.url("/health")).await;
    assert_eq!(status, 200, "{body}");
    drop(backend);

    testkit::poll_until(Duration::from_secs(15), "gateway /ready 503 again", || {
        let url = url.clone();
        async move { (get(&url).await.0 == 503).then_some(()) }
    })
    .await;
    assert_eq!(get(&gateway.url("/live")).await.0, 200);
    let _ = std::fs::remove_dir_all(backend_dir);
}

#[tokio::test]
async fn metrics_token_guards_metrics_only() {
    let mut gateway = ServiceBuilder::new("gateway")
        .env("METRICS_TOKEN", "t0ken")
        .spawn();
    gateway.wait_live().await;
    assert_eq!(get(&gateway.url("/metrics")).await.0, 401);
    let response = testkit::http_client()
        .get(gateway.url("/metrics"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains(r#"service="gateway""#), "{body}");
    assert!(
        body.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/live",http_response_status_code="200"}"#),
        "{body}"
    );
    assert!(body.contains("process_resident_memory_bytes"));
    // Saturation of the event batcher: depth and capacity of its queue.
    assert!(body.contains("event_queue_depth 0"), "{body}");
    assert!(body.contains("event_queue_capacity "), "{body}");
}

#[test]
fn unparsable_shutdown_timings_exit_2_naming_the_variable() {
    testkit::assert_config_error("gateway", "SHUTDOWN_GRACE_SECONDS", "soon");
    testkit::assert_config_error("gateway", "SHUTDOWN_TIMEOUT_SECONDS", "-1");
}
