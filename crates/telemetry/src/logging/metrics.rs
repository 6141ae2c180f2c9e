//! Self-metrics of the log pipeline, registered in the default registry
//! (served by `/metrics` through `prometheus::gather()`).

use std::sync::LazyLock;

use crate::metrics::register;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

/// Events delivered to Loki (2xx answer).
pub static EVENTS_SHIPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new(
        "telemetry_log_events_shipped_total",
        "Log events delivered to Loki",
    ))
});

/// Events that will never reach Loki, by reason: `buffer_full`, `rejected`
/// (a 4xx other than 429), `shutdown` (not flushed in time), `encode`.
pub static EVENTS_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "telemetry_log_events_dropped_total",
            "Log events dropped before reaching Loki, by reason",
        ),
        &["reason"],
    ))
});

/// Events waiting in the buffer or in a batch being sent.
pub static BUFFER_EVENTS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(IntGauge::new(
        "telemetry_log_buffer_events",
        "Log events buffered for Loki (queued or in flight)",
    ))
});

/// Accounted bytes of those events (what `LOKI_MAX_BUFFER` caps).
pub static BUFFER_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register(IntGauge::new(
        "telemetry_log_buffer_bytes",
        "Bytes of log events buffered for Loki (queued or in flight)",
    ))
});

/// Duration of one push request, whatever its outcome.
pub static PUSH_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register(Histogram::with_opts(
        HistogramOpts::new(
            "telemetry_log_push_duration_seconds",
            "Duration of push requests to Loki",
        )
        .buckets(vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
    ))
});

/// Failed push attempts, by cause: `timeout`, `network`, `rate_limited`
/// (429), `server_error` (5xx), `rejected` (other 4xx).
pub static PUSH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "telemetry_log_push_failures_total",
            "Failed push attempts to Loki, by cause",
        ),
        &["cause"],
    ))
});

/// Console lines dropped because stdout did not keep up (the bounded
/// console buffer was full).
pub static CONSOLE_LINES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new(
        "telemetry_console_lines_dropped_total",
        "Console log lines dropped because stdout did not keep up",
    ))
});

/// Counts `n` events dropped for `reason`.
pub fn dropped(reason: &str, n: u64) {
    EVENTS_DROPPED.with_label_values(&[reason]).inc_by(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_in_the_default_registry() {
        EVENTS_SHIPPED.inc_by(0);
        dropped("buffer_full", 0);
        BUFFER_EVENTS.set(0);
        BUFFER_BYTES.set(0);
        PUSH_DURATION.observe(0.0);
        PUSH_FAILURES.with_label_values(&["timeout"]).inc_by(0);
        CONSOLE_LINES_DROPPED.inc_by(0);
        let names: Vec<String> = prometheus::gather()
            .iter()
            .map(|family| family.name().to_owned())
            .collect();
        for name in [
            "telemetry_log_events_shipped_total",
            "telemetry_log_events_dropped_total",
            "telemetry_log_buffer_events",
            "telemetry_log_buffer_bytes",
            "telemetry_log_push_duration_seconds",
            "telemetry_log_push_failures_total",
            "telemetry_console_lines_dropped_total",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
    }
}
