//! The process-wide registry every definition goes through.

use std::{
    collections::BTreeSet,
    sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, RwLock},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, gauge::ConstGauge},
    registry::{Metric, Registry},
};

struct Global {
    registry: Registry,
    /// Exposed names (counters with their `_total`), to refuse duplicates.
    names: BTreeSet<String>,
    /// The closures behind [`gauge_fn`], by name: a later definition
    /// replaces the source rather than adding a second series.
    fn_gauges: Vec<(String, Arc<FnGauge>)>,
}

static GLOBAL: LazyLock<Mutex<Global>> = LazyLock::new(|| {
    Mutex::new(Global {
        registry: Registry::default(),
        names: BTreeSet::new(),
        fn_gauges: Vec::new(),
    })
});

/// The registry, also after a panic elsewhere while it was held (its state
/// is a list of metrics; nothing is left half-written).
fn global() -> MutexGuard<'static, Global> {
    GLOBAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `metric` under `name` (as exposed: a counter's name ends in
/// `_total`, which the registry wants without). A duplicate is logged and
/// not exported.
pub(super) fn register(name: &str, help: &str, metric: impl Metric) {
    let base = match metric.metric_type() {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    let mut global = global();
    if !global.names.insert(name.to_owned()) {
        drop(global);
        tracing::error!(
            context = "Metrics",
            metric = name,
            "metric defined twice; the second definition is not exported"
        );
        return;
    }
    global.registry.register(base, help, metric);
}

/// Runs `encode` with the registry held.
pub(super) fn with_registry<T>(encode: impl FnOnce(&Registry) -> T) -> T {
    encode(&global().registry)
}

pub(super) fn register_collector(name: &str, collector: impl Collector) -> bool {
    let mut global = global();
    if !global.names.insert(name.to_owned()) {
        return false;
    }
    global.registry.register_collector(Box::new(collector));
    true
}

/// Every exposed metric name (for tests and diagnostics).
pub fn registered_names() -> Vec<String> {
    global().names.iter().cloned().collect()
}

type Source = Box<dyn Fn() -> f64 + Send + Sync>;

/// A gauge whose value is read at scrape time.
struct FnGauge {
    name: String,
    help: String,
    source: RwLock<Source>,
}

impl std::fmt::Debug for FnGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnGauge").field("name", &self.name).finish()
    }
}

impl Collector for FnGauge {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let value = (self.source.read().unwrap_or_else(PoisonError::into_inner))();
        let gauge = ConstGauge::new(value);
        let metric =
            encoder.encode_descriptor(&self.name, &self.help, None, gauge.metric_type())?;
        gauge.encode(metric)
    }
}

/// `event_queue_depth` and `event_queue_capacity` of a bounded Tokio
/// channel, read at each scrape through a weak handle (the gauges never
/// keep the channel open; a closed one reads 0).
pub fn expose_queue<T: Send + 'static>(sender: &tokio::sync::mpsc::Sender<T>) {
    let capacity = sender.max_capacity();
    let weak = sender.downgrade();
    gauge_fn(
        "event_queue_depth",
        "Events waiting in the bounded event queue",
        move || {
            weak.upgrade()
                .map_or(0.0, |sender| (capacity - sender.capacity()) as f64)
        },
    );
    gauge_fn(
        "event_queue_capacity",
        "Events the bounded event queue holds at most (beyond, events are refused and counted)",
        move || capacity as f64,
    );
}

/// A gauge read from `source` at each scrape (a pool's size, a queue's
/// depth): nothing to keep in sync. Defining the name again replaces the
/// source (the latest owner is the one reported). `source` runs with the
/// registry held: it must not define metrics.
pub fn gauge_fn(name: &str, help: &str, source: impl Fn() -> f64 + Send + Sync + 'static) {
    let source: Source = Box::new(source);
    let mut global = global();
    if let Some((_, gauge)) = global.fn_gauges.iter().find(|(n, _)| n == name) {
        *gauge.source.write().unwrap_or_else(PoisonError::into_inner) = source;
        return;
    }
    if !global.names.insert(name.to_owned()) {
        drop(global);
        tracing::error!(
            context = "Metrics",
            metric = name,
            "metric defined twice; the second definition is not exported"
        );
        return;
    }
    let gauge = Arc::new(FnGauge {
        name: name.to_owned(),
        help: help.to_owned(),
        source: RwLock::new(source),
    });
    global.fn_gauges.push((name.to_owned(), gauge.clone()));
    global.registry.register_collector(Box::new(gauge));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed() -> String {
        super::super::encode().unwrap_or_default()
    }

    #[test]
    fn a_second_definition_of_a_name_is_not_exported_and_does_not_panic() {
        let first = super::super::counter("registry_test_duplicate_total", "first");
        let second = super::super::counter("registry_test_duplicate_total", "second");
        first.inc();
        second.inc_by(5);
        let text = exposed();
        assert!(text.contains("registry_test_duplicate_total 1\n"), "{text}");
        assert_eq!(
            text.matches("# TYPE registry_test_duplicate_total").count(),
            1
        );
    }

    #[test]
    fn a_gauge_fn_reads_its_latest_source_at_scrape_time() {
        gauge_fn("registry_test_fn_gauge", "test", || 1.0);
        assert!(exposed().contains("registry_test_fn_gauge 1.0\n"));
        gauge_fn("registry_test_fn_gauge", "test", || 2.5);
        let text = exposed();
        assert!(text.contains("registry_test_fn_gauge 2.5\n"), "{text}");
        assert_eq!(text.matches("# TYPE registry_test_fn_gauge").count(), 1);
    }

    #[test]
    fn a_queue_reads_zero_once_closed_and_never_keeps_it_open() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<u8>(8);
        expose_queue(&sender);
        sender.try_send(1).unwrap();
        sender.try_send(2).unwrap();
        let text = exposed();
        assert!(text.contains("event_queue_depth 2.0\n"), "{text}");
        assert!(text.contains("event_queue_capacity 8.0\n"), "{text}");
        drop(sender);
        // Only the gauges' weak handle is left: the channel is closed.
        assert_eq!(receiver.blocking_recv(), Some(1));
        assert_eq!(receiver.blocking_recv(), Some(2));
        assert_eq!(receiver.blocking_recv(), None);
        assert!(exposed().contains("event_queue_depth 0.0\n"));
    }
}
