//! Prometheus metrics: registration helper, `/metrics` exposition and
//! `build_info`. Process metrics (CPU, resident memory, open fds, start
//! time) come with the default registry itself: the `prometheus` crate's
//! `process` feature registers its collector there on Linux.
//!
//! Every metric lives in the default registry, defined as a `LazyLock` static
//! next to the code that moves it (see [`register`]).

mod build_info;
mod endpoint;

pub use build_info::{GIT_SHA, record_build_info};
pub use endpoint::{MetricsConfig, encode, metrics_handler};

use prometheus::core::Collector;

/// Registers `metric` in the default registry and returns it.
///
/// Meant for `LazyLock` statics: `static X: LazyLock<IntCounter> =
/// LazyLock::new(|| metrics::register(IntCounter::new("x_total", "...")));`.
/// A construction error can only come from an invalid constant name or label
/// set, a programming error that the first test touching the static reveals.
/// A duplicate registration (two statics with one name) is logged and the
/// metric still works, unexported, rather than taking the service down.
#[allow(
    clippy::expect_used,
    reason = "metric names and labels are constants; an invalid one is a bug caught by tests"
)]
pub fn register<C>(metric: prometheus::Result<C>) -> C
where
    C: Collector + Clone + 'static,
{
    let metric = metric.expect("invalid metric definition");
    if let Err(error) = prometheus::register(Box::new(metric.clone())) {
        tracing::error!(context = "Metrics", %error, "metric not registered");
    }
    metric
}

/// The histogram buckets of request-like durations, in seconds: 5 ms … 10 s
/// (the Prometheus client default).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
