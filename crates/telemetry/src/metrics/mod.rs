//! Metrics: the one place every metric of every service is defined, the
//! `/metrics` exposition (OpenMetrics with exemplars, or the classic
//! Prometheus text), process metrics and `build_info`.
//!
//! Built on the official `prometheus-client` crate (exemplars, OpenMetrics;
//! the choice is argued in docs/ARCHITECTURE.md). Every metric lives in one
//! process-wide registry and is defined as a `LazyLock` static next to the
//! code that moves it:
//!
//! ```ignore
//! static EVENTS: LazyLock<CounterVec> = LazyLock::new(|| {
//!     metrics::counter_vec("events_total", "Events, by type", &["type"])
//! });
//! EVENTS.with_label_values(&["join"]).inc();
//! ```
//!
//! Definitions cannot fail: names are constants, and a second definition of
//! a name already registered is logged and left unexported (the metric still
//! works) rather than taking the service down.

mod build_info;
mod endpoint;
mod exemplar;
mod process;
mod registry;
mod types;

pub use build_info::{GIT_SHA, record_build_info};
pub use endpoint::{
    CLASSIC_CONTENT_TYPE, Format, MetricsConfig, OPENMETRICS_CONTENT_TYPE, encode, encode_as,
    metrics_handler,
};
pub use exemplar::{TraceExemplar, sampled_trace_exemplar};
pub use process::register_process_metrics;
pub use registry::{expose_queue, gauge_fn, registered_names};
pub use types::{
    Counter, CounterFamily, CounterVec, FloatGauge, FloatGaugeVec, Gauge, GaugeVec, Histogram,
    HistogramFamily, HistogramVec, LabelValues, Labels, counter, counter_family, counter_vec,
    float_gauge_vec, gauge, gauge_vec, histogram, histogram_family, histogram_vec,
};

/// The encoding traits a typed label set derives (`#[derive(EncodeLabelSet)]`).
pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

/// Bucket boundaries of request-like durations, in seconds: the
/// OpenTelemetry HTTP semantic conventions' advice for
/// `http.server.request.duration` and `http.client.request.duration`.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
