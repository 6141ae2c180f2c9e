//! The RED metrics of HTTP, named and labelled per the OpenTelemetry HTTP
//! semantic conventions (`http.server.request.duration`,
//! `http.client.request.duration`, `http.server.active_requests`): the
//! request rate and error ratio are the histograms' `_count` by status.

use std::{sync::LazyLock, time::Duration};

use crate::metrics::{
    DURATION_BUCKETS, EncodeLabelSet, Gauge, HistogramFamily, gauge, histogram_family,
};

/// Labels of a served request: typed, so an observation allocates nothing
/// beyond the route the request already carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ServerLabels {
    pub http_request_method: &'static str,
    pub http_route: String,
    pub http_response_status_code: u16,
}

/// Labels of a call to another service. `http_response_status_code` is
/// absent (empty) when no response came, and `error_type` then says why
/// (`timeout`, `connect`, ...); a 4xx or 5xx response has `error_type`
/// `4xx` or `5xx` (the status itself is its own label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ClientLabels {
    pub http_request_method: &'static str,
    pub server_address: String,
    pub http_response_status_code: Option<u16>,
    pub error_type: &'static str,
}

pub(super) static SERVER_DURATION: LazyLock<HistogramFamily<ServerLabels>> = LazyLock::new(|| {
    histogram_family(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests: from request received to response headers sent",
        DURATION_BUCKETS,
    )
});

static CLIENT_DURATION: LazyLock<HistogramFamily<ClientLabels>> = LazyLock::new(|| {
    histogram_family(
        "http_client_request_duration_seconds",
        "Duration of HTTP client requests to other services: until the response headers arrived or the call failed",
        DURATION_BUCKETS,
    )
});

pub(super) static ACTIVE_REQUESTS: LazyLock<Gauge> = LazyLock::new(|| {
    gauge(
        "http_server_active_requests",
        "HTTP server requests being handled now",
    )
});

/// Records one outbound call (from `trace::HttpClient`, the one client
/// every service uses).
pub(crate) fn observe_client_call(labels: &ClientLabels, elapsed: Duration) {
    CLIENT_DURATION.observe(labels, elapsed.as_secs_f64());
}

/// Counts a request in flight until dropped (also when the request is
/// cancelled, so the gauge never drifts).
pub(super) struct InFlight;

impl InFlight {
    pub(super) fn start() -> Self {
        ACTIVE_REQUESTS.inc();
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        ACTIVE_REQUESTS.dec();
    }
}

/// Requests being handled now (for the drain-deadline log line).
pub(crate) fn in_flight() -> i64 {
    ACTIVE_REQUESTS.get()
}
