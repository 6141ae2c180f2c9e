//! The operational router and the HTTP layer, driven in-process: status
//! codes and JSON shapes of `/live`, `/ready`, `/health`, `/metrics`, the
//! metrics token, bounded cardinality and the readiness flip on shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    routing::get,
};
use serde_json::Value;
use telemetry::{
    Ops, OpsConfig, ServiceInfo,
    health::{CheckOutcome, Criticality, check_fn},
    metrics::MetricsConfig,
    shutdown::ShutdownConfig,
};
use tower::ServiceExt;

const SERVICE: ServiceInfo = ServiceInfo {
    name: "testsvc",
    version: "1.2.3",
};

fn config(token: Option<&str>) -> OpsConfig {
    OpsConfig {
        metrics: MetricsConfig {
            token: token.map(str::to_owned),
        },
        shutdown: ShutdownConfig {
            grace: Duration::from_secs(3600),
            timeout: Duration::from_secs(1),
        },
        ..OpsConfig::default()
    }
}

/// Ops whose one check, `name`, always fails with `message`.
fn failing_check(name: &'static str, criticality: Criticality, message: &'static str) -> Ops {
    Ops::new(SERVICE, &config(None)).with_check(check_fn(name, criticality, move || async move {
        CheckOutcome::failed(message)
    }))
}

fn app(ops: &Ops) -> Router {
    Router::new()
        .route("/api/guilds/{id}", get(|| async { "guild" }))
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .merge(ops.router())
        .layer(telemetry::http::layer())
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

async fn get_path(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    call(app, Request::get(path).body(Body::empty()).unwrap()).await
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn live_is_200_even_when_a_critical_check_fails() {
    let ops = failing_check("database", Criticality::Critical, "connection refused");
    let app = app(&ops);
    let (status, _, body) = get_path(&app, "/live").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "ok");
}

#[tokio::test]
async fn ready_and_health_are_200_with_passing_checks() {
    let ops = Ops::new(SERVICE, &config(None)).with_check(check_fn(
        "database",
        Criticality::Critical,
        || async { CheckOutcome::ok() },
    ));
    let app = app(&ops);
    let (status, _, body) = get_path(&app, "/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        serde_json::json!({"status": "ready", "reasons": []})
    );

    let (status, _, body) = get_path(&app, "/health").await;
    assert_eq!(status, StatusCode::OK);
    let health = json(&body);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "testsvc");
    assert_eq!(health["version"], "1.2.3");
    assert!(health["uptime_seconds"].is_u64());
    let timestamp = health["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );
    let database = &health["checks"]["database"];
    assert_eq!(database["status"], "ok");
    assert!(database["duration_ms"].is_u64());
    assert!(
        database.get("message").is_none(),
        "no message when none given"
    );
}

#[tokio::test]
async fn a_failing_critical_check_is_503_with_reasons() {
    let ops = failing_check("database", Criticality::Critical, "connection refused");
    let app = app(&ops);
    let (status, _, body) = get_path(&app, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let ready = json(&body);
    assert_eq!(ready["status"], "not_ready");
    assert_eq!(
        ready["reasons"],
        serde_json::json!(["database: connection refused"])
    );

    let (status, _, body) = get_path(&app, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let health = json(&body);
    assert_eq!(health["status"], "down");
    assert_eq!(health["checks"]["database"]["status"], "error");
    assert_eq!(
        health["checks"]["database"]["message"],
        "connection refused"
    );
}

#[tokio::test]
async fn a_failing_informational_check_degrades_health_but_not_readiness() {
    let ops = failing_check("loki", Criticality::Informational, "unreachable");
    let app = app(&ops);
    let (status, _, _) = get_path(&app, "/ready").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = get_path(&app, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "degraded");
}

#[tokio::test]
async fn readiness_flips_to_503_at_once_on_shutdown_while_serving_continues() {
    let ops = Ops::new(SERVICE, &config(None));
    let app = app(&ops);
    assert_eq!(get_path(&app, "/ready").await.0, StatusCode::OK);
    ops.shutdown().begin();
    let (status, _, body) = get_path(&app, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["reasons"], serde_json::json!(["shutting down"]));
    let (status, _, body) = get_path(&app, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "down");
    // The grace period: everything else still answers.
    assert_eq!(get_path(&app, "/live").await.0, StatusCode::OK);
    assert_eq!(get_path(&app, "/api/guilds/1").await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_is_prometheus_text_with_process_and_build_info() {
    let ops = Ops::new(SERVICE, &config(None));
    let app = app(&ops);
    get_path(&app, "/api/guilds/42").await;
    let (status, headers, body) = get_path(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    let series = r#"http_request_method="GET",http_route="/api/guilds/{id}",http_response_status_code="200""#;
    assert!(
        body.contains(&format!(
            "http_server_request_duration_seconds_count{{{series}}} 1"
        )),
        "{body}"
    );
    // The semantic conventions' bucket boundaries, 5 ms to 10 s.
    for le in ["0.005", "0.075", "0.75", "7.5", "10", "+Inf"] {
        let bucket =
            format!(r#"http_server_request_duration_seconds_bucket{{{series},le="{le}"}}"#);
        assert!(body.contains(&bucket), "missing {bucket}");
    }
    assert!(body.contains("http_server_active_requests"));
    assert!(
        !body.contains("# EOF"),
        "classic text unless OpenMetrics is asked for"
    );
    assert!(body.contains(&format!(
        r#"build_info{{service="testsvc",version="1.2.3",git_sha="{}"}} 1"#,
        telemetry::metrics::GIT_SHA
    )));
    if cfg!(target_os = "linux") {
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(body.contains(name), "missing {name}");
        }
    }
}

#[tokio::test]
async fn metrics_token_requires_the_bearer() {
    let ops = Ops::new(SERVICE, &config(Some("s3cret")));
    let app = app(&ops);
    let (status, headers, _) = get_path(&app, "/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let wrong = Request::get("/metrics")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let right = Request::get("/metrics")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&app, right).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("build_info"));
    // The probes stay open: the kubelet sends no token.
    assert_eq!(get_path(&app, "/live").await.0, StatusCode::OK);
}

#[tokio::test]
async fn request_id_is_propagated_or_generated_and_echoed() {
    let ops = Ops::new(SERVICE, &config(None));
    let app = app(&ops);
    let given = Request::get("/live")
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, given).await.1["x-request-id"], "req-42");
    let (_, headers, _) = get_path(&app, "/nowhere").await;
    let generated = headers["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 32);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
}

/// Number of series of `http_server_request_duration_seconds` on `/metrics`.
fn http_series() -> usize {
    telemetry::metrics::encode()
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("http_server_request_duration_seconds_count{"))
        .count()
}

#[tokio::test]
async fn ten_thousand_random_paths_do_not_add_series() {
    let ops = Ops::new(SERVICE, &config(None));
    let app = app(&ops);
    // One of each shape first: a matched route with a parameter and an
    // unmatched path, each with a standard and an extension method.
    for path in ["/api/guilds/1", "/scanner/wp-admin.php"] {
        for method in ["GET", "PURGE"] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            call(&app, request).await;
        }
    }
    let before = http_series();
    assert!(before > 0);

    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..10_000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let path = match i % 3 {
            0 => format!("/api/guilds/{seed}"),
            1 => format!("/random/{seed:x}/{i}"),
            _ => format!("/{seed:x}"),
        };
        let method = if i % 2 == 0 { "GET" } else { "PURGE" };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        call(&app, request).await;
    }
    assert_eq!(
        http_series(),
        before,
        "10 000 random paths created new series"
    );

    let metrics = telemetry::metrics::encode().unwrap();
    assert!(metrics.contains(r#"http_route="unmatched""#));
    assert!(metrics.contains(r#"http_request_method="other""#));
    assert!(!metrics.contains("wp-admin"));
}

#[tokio::test]
async fn server_errors_are_counted_with_their_status() {
    let ops = Ops::new(SERVICE, &config(None));
    let app = app(&ops);
    get_path(&app, "/boom").await;
    let metrics = telemetry::metrics::encode().unwrap();
    assert!(metrics.contains(
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/boom",http_response_status_code="500"} 1"#
    ));
}

#[tokio::test]
async fn metrics_is_openmetrics_when_the_scraper_asks_for_it() {
    let ops = Ops::new(SERVICE, &config(None));
    let app = app(&ops);
    get_path(&app, "/api/guilds/7").await;
    // Prometheus' own default Accept header.
    let request = Request::get("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0"),
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# TYPE http_server_request_duration_seconds histogram"));
    // OpenMetrics names a counter's family without `_total`, its sample with.
    assert!(body.contains("# TYPE process_cpu_seconds counter") || !cfg!(target_os = "linux"));
    assert!(body.contains("process_cpu_seconds_total ") || !cfg!(target_os = "linux"));
}
