//! The backend's operational endpoints as a real process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use testkit::ServiceBuilder;

#[tokio::test]
async fn probes_and_metrics_answer() {
    let dir = std::env::temp_dir().join(format!("backend-probes-{}", testkit::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut backend = ServiceBuilder::new("backend").current_dir(&dir).spawn();
    backend.wait_live().await;
    let client = testkit::http_client();

    let response = client.get(backend.url("/ready")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    let response = client
        .get(backend.url("/health"))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-request-id"], "probe-1");
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "backend");
    assert!(health["checks"].is_object());

    let response = client.get(backend.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let metrics = response.text().await.unwrap();
    assert!(metrics.contains(r#"service="backend""#), "{metrics}");
    assert!(metrics.contains(r#"route="/health""#), "{metrics}");

    let response = client
        .get(backend.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let metrics = backend.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"http_route="unmatched",http_response_status_code="404""#),
        "{metrics}"
    );
    // Saturation and business gauges of the database.
    for gauge in [
        "db_client_connection_used ",
        "db_client_connection_idle ",
        "db_client_connection_max ",
        "db_client_connection_pending_requests ",
        "guilds_known ",
        "members_seen_24h ",
    ] {
        assert!(metrics.contains(gauge), "missing {gauge}: {metrics}");
    }
    assert!(!metrics.contains("/no/such/path"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `/ready` follows the database: 503 naming it while PostgreSQL is down,
/// 200 again once it is back, without restarting the backend; `/live`
/// stays 200 throughout (an outage must not restart the pods).
#[tokio::test]
async fn readiness_follows_the_database() {
    let Some(cluster) =
        testkit::postgres::PgCluster::start_or_skip("readiness_follows_the_database")
    else {
        return;
    };
    let mut backend = ServiceBuilder::new("backend")
        .env("DATABASE_URL", cluster.create_database())
        .spawn();
    backend.wait_for_status("/ready", 200).await;
    let client = testkit::http_client();

    cluster.stop();
    backend.wait_for_status("/ready", 503).await;
    let ready = backend.get_json("/ready").await;
    let reasons = ready.to_string();
    assert!(reasons.contains("database"), "{ready}");
    let live = client.get(backend.url("/live")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200);

    cluster.start_server();
    backend.wait_for_status("/ready", 200).await;
}
