//! `cargo bench -p telemetry --bench metrics`: what the metrics path costs
//! per request and per scrape, the `prometheus` crate (before) against
//! `telemetry::metrics` on `prometheus-client` (after), in one run.
//!
//! - `observe`: what the HTTP layer records per request. Before: a counter
//!   `{method,route,status}` and a histogram `{method,route}`; after: one
//!   semconv histogram `{http_request_method,http_route,http_response_status_code}`,
//!   outside any span and inside a sampled span (the exemplar lookup).
//! - `render`: `/metrics` for the services' series (20 routes × 3 statuses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, TextEncoder};
use telemetry::metrics::{self, DURATION_BUCKETS, EncodeLabelSet, Format};
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServerLabels {
    http_request_method: &'static str,
    http_route: String,
    http_response_status_code: u16,
}

const ROUTES: usize = 20;
const STATUSES: [u16; 3] = [200, 404, 500];

fn route(i: usize) -> String {
    format!("/api/guilds/{{id}}/resource{i}")
}

struct Before {
    registry: prometheus::Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

fn before() -> Before {
    let registry = prometheus::Registry::new();
    let requests = IntCounterVec::new(
        Opts::new("http_requests_total", "HTTP requests answered"),
        &["method", "route", "status"],
    )
    .unwrap();
    let duration = HistogramVec::new(
        HistogramOpts::new("http_request_duration_seconds", "duration")
            .buckets(DURATION_BUCKETS.to_vec()),
        &["method", "route"],
    )
    .unwrap();
    registry.register(Box::new(requests.clone())).unwrap();
    registry.register(Box::new(duration.clone())).unwrap();
    Before {
        registry,
        requests,
        duration,
    }
}

/// What the HTTP layer did per request before.
fn observe_before(before: &Before, route: &str, status: u16, seconds: f64) {
    before
        .requests
        .with_label_values(&["GET", route, &status.to_string()])
        .inc();
    before
        .duration
        .with_label_values(&["GET", route])
        .observe(seconds);
}

fn bench(c: &mut Criterion) {
    let before = before();
    let after = metrics::histogram_family::<ServerLabels>(
        "bench_http_server_request_duration_seconds",
        "duration",
        DURATION_BUCKETS,
    );
    // Every series exists, as in a service that has been up for a while.
    for i in 0..ROUTES {
        for status in STATUSES {
            observe_before(&before, &route(i), status, 0.01);
            let labels = ServerLabels {
                http_request_method: "GET",
                http_route: route(i),
                http_response_status_code: status,
            };
            after.observe(&labels, 0.01);
        }
    }

    let mut group = c.benchmark_group("metrics/observe per request");
    // Both sides receive the route as an owned String (the layer computes it
    // per request either way), so its allocation is in both figures.
    group.bench_function("before: prometheus counter + histogram", |b| {
        b.iter(|| {
            let route = route(7);
            observe_before(&before, black_box(&route), 200, black_box(0.042));
        });
    });
    group.bench_function("after: prometheus-client semconv histogram, no span", |b| {
        b.iter(|| {
            let labels = ServerLabels {
                http_request_method: "GET",
                http_route: route(7),
                http_response_status_code: 200,
            };
            after.observe(black_box(&labels), black_box(0.042));
        });
    });
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("HTTP request");
        let _entered = span.enter();
        assert!(
            metrics::sampled_trace_exemplar().is_some(),
            "the span is sampled"
        );
        group.bench_function(
            "after: prometheus-client semconv histogram, sampled span (exemplar)",
            |b| {
                b.iter(|| {
                    let labels = ServerLabels {
                        http_request_method: "GET",
                        http_route: route(7),
                        http_response_status_code: 200,
                    };
                    after.observe(black_box(&labels), black_box(0.042));
                });
            },
        );
    });
    group.finish();

    let mut group = c.benchmark_group("metrics/render 60 request series");
    group.bench_function("before: prometheus text", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(64 * 1024);
            TextEncoder::new()
                .encode(&before.registry.gather(), &mut out)
                .unwrap();
            black_box(out.len())
        });
    });
    group.bench_function("after: classic text", |b| {
        b.iter(|| black_box(metrics::encode_as(Format::Classic).unwrap().len()));
    });
    group.bench_function("after: OpenMetrics with exemplars", |b| {
        b.iter(|| black_box(metrics::encode_as(Format::OpenMetrics).unwrap().len()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
