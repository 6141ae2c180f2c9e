//! Tracing in the real service binaries (spawned as processes): the inbound
//! layer continues the caller's trace, answers with `traceparent`, exports
//! the server span with the service's resource, and flushes on SIGTERM.
//! Needs the binaries built (`cargo build --workspace --bins`, as `make test`
//! does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use testkit::{ServiceBuilder, otlp::OtlpReceiver};

const DEADLINE: Duration = Duration::from_secs(20);
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_continues_the_callers_trace_and_exports_its_span() {
    let receiver = OtlpReceiver::start().await;
    for name in ["backend", "gateway", "bot"] {
        let mut service = ServiceBuilder::new(name)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .env("DATABASE_URL", "sqlite::memory:")
            .spawn();
        service.wait_live().await;

        let response = testkit::http_client()
            .get(service.url("/live"))
            .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), 200);
        let traceparent = response.headers()["traceparent"].to_str().unwrap();
        assert!(
            traceparent.starts_with(&format!("00-{TRACE}-")),
            "{traceparent}"
        );
        let spans = receiver
            .wait_for(DEADLINE, &format!("{name}'s server span"), |spans| {
                spans
                    .iter()
                    .any(|s| s.service_name == name && s.trace_id == TRACE)
            })
            .await;
        let span = spans
            .iter()
            .find(|s| s.service_name == name && s.trace_id == TRACE)
            .unwrap();
        assert_eq!(span.parent_span_id.as_deref(), Some(PARENT));
        assert_eq!(span.kind, "server");
        assert_eq!(span.name, "GET /live");
        assert_eq!(span.attribute("http.response.status_code"), Some("200"));
        assert_eq!(
            span.resource.get("service.version").map(String::as_str),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            span.resource
                .get("deployment.environment.name")
                .map(String::as_str),
            Some("development")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_spans_still_buffered() {
    let receiver = OtlpReceiver::start().await;
    let mut backend = ServiceBuilder::new("backend")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        // Nothing leaves on the timer during the test: only the flush.
        .env("OTEL_BSP_SCHEDULE_DELAY", "3600000")
        .env("OTEL_SERVICE_NAME", "backend-flush")
        .env("DATABASE_URL", "sqlite::memory:")
        .spawn();
    backend.wait_live().await;
    let response = testkit::http_client()
        .get(backend.url("/live"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(receiver.trace(TRACE).is_empty(), "buffered until shutdown");

    backend.signal("TERM");
    let status = backend.wait_exit(DEADLINE);

    assert!(status.success(), "{status}");
    let spans = receiver.trace(TRACE);
    assert!(
        spans.iter().any(|s| s.service_name == "backend-flush"),
        "spans flushed before exit: {spans:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_endpoint_responses_still_carry_a_traceparent() {
    let mut gateway = ServiceBuilder::new("gateway").spawn();
    gateway.wait_live().await;

    let response = testkit::http_client()
        .get(gateway.url("/live"))
        .header("traceparent", "not-a-traceparent")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let traceparent = response.headers()["traceparent"].to_str().unwrap();
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    assert!(!traceparent.contains(TRACE));
}

/// Production's default sampler is the parent-based ratio: with the ratio
/// at 0, a request that starts a trace is not sampled, yet its ids reach
/// its log line and its `traceparent` (flag `00`), and nothing of it is
/// exported; a caller's sampled decision is still followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_unsampled_requests_keep_their_ids_and_export_nothing() {
    let receiver = OtlpReceiver::start().await;
    let mut backend = ServiceBuilder::new("backend")
        .env("ENVIRONMENT", "production")
        .env("METRICS_TOKEN", "t")
        .env("LOG_HASH_SALT", "test-salt")
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_GRACE_SECONDS", "0")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_TRACES_SAMPLER_ARG", "0")
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("DATABASE_URL", "sqlite::memory:")
        .spawn();
    backend.wait_live().await;
    let client = testkit::http_client();
    let path = "/api/guilds/123456789012345678";

    let unsampled = client.get(backend.url(path)).send().await.unwrap();
    assert_eq!(unsampled.status(), 404);
    let traceparent = unsampled.headers()["traceparent"].to_str().unwrap();
    assert!(traceparent.ends_with("-00"), "not sampled: {traceparent}");
    let trace_id = traceparent.split('-').nth(1).unwrap().to_owned();
    assert_eq!(trace_id.len(), 32);
    testkit::poll_until(DEADLINE, "the unsampled request's log line", || {
        let lines = backend.stdout.lines();
        let trace_id = trace_id.clone();
        async move {
            lines
                .iter()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|line| line["trace_id"] == trace_id.as_str())
        }
    })
    .await;

    let sampled = client
        .get(backend.url(path))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert!(
        sampled.headers()["traceparent"]
            .to_str()
            .unwrap()
            .ends_with("-01")
    );
    // Exports leave in order: once the sampled request's span is in, the
    // unsampled one would be too, had it been exported.
    let spans = receiver
        .wait_for(DEADLINE, "the sampled request's span", |spans| {
            spans.iter().any(|s| s.trace_id == TRACE)
        })
        .await;
    assert!(
        spans.iter().all(|s| s.trace_id != trace_id),
        "the unsampled request exported spans: {spans:#?}"
    );
}

#[test]
fn bad_trace_settings_exit_2_naming_the_variable() {
    testkit::assert_config_error("backend", "OTEL_TRACES_SAMPLER", "sometimes");
    testkit::assert_config_error("gateway", "OTEL_TRACES_SAMPLER_ARG", "1.5");
    testkit::assert_config_error("bot", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    testkit::assert_config_error("backend", "OTEL_RESOURCE_ATTRIBUTES", "novalue");
}
