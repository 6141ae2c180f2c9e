//! Self-metrics of the log pipeline (defined through `crate::metrics`).

use std::sync::LazyLock;

use crate::metrics::{
    Counter, CounterVec, DURATION_BUCKETS, Gauge, Histogram, counter, counter_vec, gauge, histogram,
};

/// Events delivered to Loki (2xx answer).
pub static EVENTS_SHIPPED: LazyLock<Counter> = LazyLock::new(|| {
    counter(
        "telemetry_log_events_shipped_total",
        "Log events delivered to Loki",
    )
});

/// Events that will never reach Loki, by reason: `buffer_full`, `rejected`
/// (a 4xx other than 429), `shutdown` (not flushed in time), `encode`.
pub static EVENTS_DROPPED: LazyLock<CounterVec> = LazyLock::new(|| {
    counter_vec(
        "telemetry_log_events_dropped_total",
        "Log events dropped before reaching Loki, by reason",
        &["reason"],
    )
});

/// Events waiting in the buffer or in a batch being sent.
pub static BUFFER_EVENTS: LazyLock<Gauge> = LazyLock::new(|| {
    gauge(
        "telemetry_log_buffer_events",
        "Log events buffered for Loki (queued or in flight)",
    )
});

/// Accounted bytes of those events (what `LOKI_MAX_BUFFER` caps).
pub static BUFFER_BYTES: LazyLock<Gauge> = LazyLock::new(|| {
    gauge(
        "telemetry_log_buffer_bytes",
        "Bytes of log events buffered for Loki (queued or in flight)",
    )
});

/// Duration of one push request, whatever its outcome.
pub static PUSH_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "telemetry_log_push_duration_seconds",
        "Duration of push requests to Loki",
        DURATION_BUCKETS,
    )
});

/// Failed push attempts, by cause: `timeout`, `network`, `rate_limited`
/// (429), `server_error` (5xx), `rejected` (other 4xx).
pub static PUSH_FAILURES: LazyLock<CounterVec> = LazyLock::new(|| {
    counter_vec(
        "telemetry_log_push_failures_total",
        "Failed push attempts to Loki, by cause",
        &["cause"],
    )
});

/// Console lines dropped because stdout did not keep up (the bounded
/// console buffer was full).
pub static CONSOLE_LINES_DROPPED: LazyLock<Counter> = LazyLock::new(|| {
    counter(
        "telemetry_console_lines_dropped_total",
        "Console log lines dropped because stdout did not keep up",
    )
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
        let names = crate::metrics::registered_names();
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
