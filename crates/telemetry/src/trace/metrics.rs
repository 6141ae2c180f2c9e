//! Self-metrics of the span pipeline (defined through `crate::metrics`).

use std::sync::LazyLock;

use crate::metrics::{Counter, CounterVec, Gauge, counter, counter_vec, gauge};

/// Spans the collector accepted.
pub static SPANS_EXPORTED: LazyLock<Counter> = LazyLock::new(|| {
    counter(
        "telemetry_spans_exported_total",
        "Spans accepted by the OTLP collector",
    )
});

/// Spans that will never reach the collector, by reason: `queue_full` (the
/// export queue was at `OTEL_BSP_MAX_QUEUE_SIZE`), `queue_bytes_full` (the
/// span would have taken the queue over `OTEL_BSP_MAX_QUEUE_BYTES`),
/// `export_failed` (the collector refused or did not answer in time).
pub static SPANS_DROPPED: LazyLock<CounterVec> = LazyLock::new(|| {
    counter_vec(
        "telemetry_spans_dropped_total",
        "Spans dropped before reaching the OTLP collector, by reason",
        &["reason"],
    )
});

/// Spans waiting for export (queued or in the batch being assembled).
pub static SPANS_QUEUED: LazyLock<Gauge> = LazyLock::new(|| {
    gauge(
        "telemetry_span_queue_spans",
        "Spans waiting in the export queue",
    )
});

pub(crate) fn dropped(reason: &str, count: usize) {
    SPANS_DROPPED
        .with_label_values(&[reason])
        .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_defined_and_registered() {
        SPANS_EXPORTED.inc_by(0);
        dropped("queue_full", 0);
        SPANS_QUEUED.add(0);
        let names = crate::metrics::registered_names();
        for name in [
            "telemetry_spans_exported_total",
            "telemetry_spans_dropped_total",
            "telemetry_span_queue_spans",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not registered");
        }
    }
}
