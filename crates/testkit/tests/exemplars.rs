//! Metrics that lead to traces, against a real Prometheus (Debian package)
//! with exemplar storage on, as in compose: the backend serves sampled and
//! unsampled requests, exports its spans to an in-test OTLP receiver, and
//! `/api/v1/query_exemplars` on the request-duration histogram returns the
//! `trace_id` of a sampled request the receiver got, never an unsampled one.
//! Skips loudly without `prometheus`/`promtool`, fails instead under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeSet, time::Duration};

use testkit::{
    ServiceBuilder, http_client,
    otlp::OtlpReceiver,
    prometheus::{self, Prometheus, ScrapeJob, scrape_config},
};

const DEADLINE: Duration = Duration::from_secs(60);

/// A W3C `traceparent` for trace `n`, sampled or not.
fn traceparent(n: u32, sampled: bool) -> (String, String) {
    let trace_id = format!("{:08x}{:024x}", 0x5eed_0000 + n, n);
    let flags = if sampled { "01" } else { "00" };
    (
        format!("00-{trace_id}-{:016x}-{flags}", u64::from(n) + 1),
        trace_id,
    )
}

#[tokio::test]
async fn a_latency_exemplar_in_prometheus_is_a_trace_the_collector_received() {
    if !prometheus::tools_available() {
        return;
    }
    let otlp = OtlpReceiver::start().await;
    let data = std::env::temp_dir().join(format!("exemplars-test-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let mut backend = ServiceBuilder::new("backend")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/backend.db?mode=rwc", data.display()),
        )
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .spawn();
    backend.wait_live().await;

    let config = scrape_config("1s", &[ScrapeJob::new("backend", backend.port)], &[]);
    let prometheus = Prometheus::start_with_exemplars(&config).await;
    prometheus.wait_for_targets_up(&["backend"], DEADLINE).await;

    // Requests whose caller did not sample the trace: never an exemplar.
    let client = http_client();
    let mut unsampled = BTreeSet::new();
    for n in 0..20 {
        let (header, trace_id) = traceparent(n, false);
        unsampled.insert(trace_id);
        client
            .get(backend.url("/api/guilds/1"))
            .header("traceparent", header)
            .send()
            .await
            .unwrap();
    }

    // Sampled requests, sent until Prometheus holds an exemplar of one
    // (each scrape keeps the latest exemplar per bucket).
    let mut sampled = BTreeSet::new();
    let mut n = 100;
    let query = r#"http_server_request_duration_seconds_bucket{job="backend", http_route="/api/guilds/{id}"}"#;
    let prometheus = &prometheus;
    let found = testkit::poll_until(DEADLINE, "an exemplar with a sampled trace_id", || {
        n += 1;
        let (header, trace_id) = traceparent(n, true);
        sampled.insert(trace_id);
        let request = client
            .get(backend.url("/api/guilds/1"))
            .header("traceparent", header)
            .send();
        async move {
            request.await.ok()?;
            let exemplars = prometheus.query_exemplars(query, DEADLINE).await.ok()?;
            let trace_ids: Vec<String> = exemplars
                .iter()
                .filter_map(|labels| labels.get("trace_id").cloned())
                .collect();
            (!trace_ids.is_empty()).then_some(trace_ids)
        }
    })
    .await;

    for trace_id in &found {
        assert!(
            !unsampled.contains(trace_id),
            "{trace_id} was not sampled, yet is an exemplar"
        );
    }
    let exemplar = found
        .iter()
        .find(|trace_id| sampled.contains(*trace_id))
        .unwrap_or_else(|| panic!("no exemplar among the sampled traces: {found:?}"));
    // The trace behind the exemplar reached the collector: the link opens it.
    let spans = otlp
        .wait_for(DEADLINE, "the exemplar's trace at the collector", |spans| {
            spans.iter().any(|span| &span.trace_id == exemplar)
        })
        .await;
    let server = spans
        .iter()
        .find(|span| &span.trace_id == exemplar && span.kind == "server")
        .unwrap_or_else(|| panic!("no server span of {exemplar}"));
    assert_eq!(server.service_name, "backend");
    assert_eq!(server.attribute("http.route"), Some("/api/guilds/{id}"));
    let _ = std::fs::remove_dir_all(&data);
}
