//! The RED metrics of the HTTP layer.

use std::sync::LazyLock;

use crate::metrics::{
    CounterFamily, DURATION_BUCKETS, EncodeLabelSet, Gauge, HistogramFamily, counter_family, gauge,
    histogram_family,
};

/// Labels of a request series: typed, so counting a request allocates
/// nothing beyond the route it already carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DurationLabels {
    pub method: &'static str,
    pub route: String,
}

pub(super) static REQUESTS_TOTAL: LazyLock<CounterFamily<RequestLabels>> =
    LazyLock::new(|| counter_family("http_requests_total", "HTTP requests answered"));

pub(super) static REQUEST_DURATION: LazyLock<HistogramFamily<DurationLabels>> =
    LazyLock::new(|| {
        histogram_family(
            "http_request_duration_seconds",
            "Time from request received to response headers sent",
            DURATION_BUCKETS,
        )
    });

pub(super) static IN_FLIGHT: LazyLock<Gauge> =
    LazyLock::new(|| gauge("http_requests_in_flight", "HTTP requests being handled now"));

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
