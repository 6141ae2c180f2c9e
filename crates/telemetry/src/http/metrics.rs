//! The RED metrics of the HTTP layer.

use std::sync::LazyLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};

use crate::metrics::{DURATION_BUCKETS, register};

pub(super) static REQUESTS_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new("http_requests_total", "HTTP requests answered"),
        &["method", "route", "status"],
    ))
});

pub(super) static REQUEST_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "Time from request received to response headers sent",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["method", "route"],
    ))
});

pub(super) static IN_FLIGHT: LazyLock<IntGauge> = LazyLock::new(|| {
    register(IntGauge::new(
        "http_requests_in_flight",
        "HTTP requests being handled now",
    ))
});

/// Counts a request in flight until dropped (also when the request is
/// cancelled, so the gauge never drifts).
pub(super) struct InFlight;

impl InFlight {
    pub(super) fn start() -> Self {
        IN_FLIGHT.inc();
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.dec();
    }
}

/// Requests being handled now (for the drain-deadline log line).
pub(crate) fn in_flight() -> i64 {
    IN_FLIGHT.get()
}
