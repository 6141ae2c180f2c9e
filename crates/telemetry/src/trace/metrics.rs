//! Self-metrics of the span pipeline, in the default registry.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

/// Registers `metric` once in the default registry. The definitions below
/// are constants, so construction cannot fail at run time (a unit test
/// touches them all); registration fails only on a duplicate name, which
/// `LazyLock` rules out within one process.
fn registered<M>(metric: prometheus::Result<M>) -> M
where
    M: prometheus::core::Collector + Clone + 'static,
{
    let metric = metric.unwrap_or_else(|error| panic!("invalid metric definition: {error}"));
    let _ = prometheus::default_registry().register(Box::new(metric.clone()));
    metric
}

/// Spans the collector accepted.
pub static SPANS_EXPORTED: LazyLock<IntCounter> = LazyLock::new(|| {
    registered(IntCounter::new(
        "telemetry_spans_exported_total",
        "Spans accepted by the OTLP collector",
    ))
});

/// Spans that will never reach the collector, by reason: `queue_full` (the
/// export queue was at `OTEL_BSP_MAX_QUEUE_SIZE`), `export_failed` (the
/// collector refused or did not answer in time).
pub static SPANS_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(IntCounterVec::new(
        Opts::new(
            "telemetry_spans_dropped_total",
            "Spans dropped before reaching the OTLP collector, by reason",
        ),
        &["reason"],
    ))
});

/// Spans waiting for export (queued or in the batch being assembled).
pub static SPANS_QUEUED: LazyLock<IntGauge> = LazyLock::new(|| {
    registered(IntGauge::new(
        "telemetry_span_queue_spans",
        "Spans waiting in the export queue",
    ))
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
        let names: Vec<String> = prometheus::gather()
            .iter()
            .map(|family| family.name().to_owned())
            .collect();
        for name in [
            "telemetry_spans_exported_total",
            "telemetry_spans_dropped_total",
            "telemetry_span_queue_spans",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not registered");
        }
    }
}
