//! Registration of the gateway's metrics in the default registry.

/// Registers `collector` and returns it; called from `LazyLock` statics, so
/// once per process.
pub(crate) fn register<C>(collector: C) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let _ = prometheus::default_registry().register(Box::new(collector.clone()));
    collector
}
