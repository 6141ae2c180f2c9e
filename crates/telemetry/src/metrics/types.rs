//! The metric types services use, and the functions that define them.
//!
//! Thin wrappers over `prometheus-client` with the call shape services know
//! (`with_label_values(&[..]).inc()`); every histogram records the sampled
//! trace of the current span as an exemplar.

use std::{fmt::Debug, hash::Hash, sync::atomic::AtomicU64};

use prometheus_client::{
    encoding::{EncodeLabelSet, LabelSetEncoder},
    metrics::{
        counter::Counter as RawCounter,
        exemplar::HistogramWithExemplars,
        family::{Family, MetricConstructor},
        gauge::Gauge as RawGauge,
    },
};

use super::{
    exemplar::{TraceExemplar, sampled_trace_exemplar},
    registry::register,
};

/// A monotonic counter.
#[derive(Debug, Clone, Default)]
pub struct Counter(RawCounter<u64>);

impl Counter {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn inc_by(&self, n: u64) {
        self.0.inc_by(n);
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// An integer gauge.
#[derive(Debug, Clone, Default)]
pub struct Gauge(RawGauge<i64>);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.set(value);
    }

    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn dec(&self) {
        self.0.dec();
    }

    pub fn add(&self, n: i64) {
        self.0.inc_by(n);
    }

    pub fn sub(&self, n: i64) {
        self.0.dec_by(n);
    }

    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

/// A floating-point gauge.
#[derive(Debug, Clone, Default)]
pub struct FloatGauge(RawGauge<f64, AtomicU64>);

impl FloatGauge {
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }

    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

type RawHistogram = HistogramWithExemplars<TraceExemplar>;

/// A histogram; each observation made inside a sampled span keeps that
/// trace as the exemplar of its bucket.
#[derive(Debug, Clone)]
pub struct Histogram(RawHistogram);

impl Histogram {
    pub fn observe(&self, value: f64) {
        self.0.observe(value, sampled_trace_exemplar(), None);
    }
}

/// Builds each series' histogram with the family's buckets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buckets(&'static [f64]);

impl MetricConstructor<RawHistogram> for Buckets {
    fn new_metric(&self) -> RawHistogram {
        HistogramWithExemplars::new(self.0.iter().copied())
    }
}

/// The label values of a `*Vec` series, with the names they go with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelValues {
    names: &'static [&'static str],
    values: Vec<String>,
}

impl LabelValues {
    /// One value per name; missing values are empty, extra ones ignored
    /// (a programming error that must not panic a service; the series
    /// shows it).
    fn new(names: &'static [&'static str], values: &[&str]) -> Self {
        debug_assert_eq!(names.len(), values.len(), "label values for {names:?}");
        let values = (0..names.len())
            .map(|i| values.get(i).copied().unwrap_or_default().to_owned())
            .collect();
        Self { names, values }
    }
}

impl EncodeLabelSet for LabelValues {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (name, value) in self.names.iter().zip(&self.values) {
            prometheus_client::encoding::EncodeLabel::encode(
                &(*name, value.as_str()),
                encoder.encode_label(),
            )?;
        }
        Ok(())
    }
}

/// Bounds of a typed label set (`#[derive(Clone, Debug, Hash, PartialEq,
/// Eq, EncodeLabelSet)]`).
pub trait Labels: Clone + Debug + Hash + Eq + EncodeLabelSet + Send + Sync + 'static {}
impl<T: Clone + Debug + Hash + Eq + EncodeLabelSet + Send + Sync + 'static> Labels for T {}

/// Counters by a typed label set: no allocation per increment beyond what
/// the label set itself holds.
#[derive(Debug, Clone)]
pub struct CounterFamily<L: Labels>(Family<L, Counter>);

impl<L: Labels> CounterFamily<L> {
    pub fn get(&self, labels: &L) -> Counter {
        self.0.get_or_create_owned(labels)
    }
}

/// Histograms by a typed label set.
#[derive(Debug, Clone)]
pub struct HistogramFamily<L: Labels>(Family<L, RawHistogram, Buckets>);

impl<L: Labels> HistogramFamily<L> {
    /// Observes `value` in the series of `labels` (with the current
    /// sampled trace as exemplar).
    pub fn observe(&self, labels: &L, value: f64) {
        self.0
            .get_or_create(labels)
            .observe(value, sampled_trace_exemplar(), None);
    }
}

/// Counters by label values, `prometheus`-crate style.
#[derive(Debug, Clone)]
pub struct CounterVec {
    names: &'static [&'static str],
    family: Family<LabelValues, Counter>,
}

impl CounterVec {
    pub fn with_label_values(&self, values: &[&str]) -> Counter {
        self.family
            .get_or_create_owned(&LabelValues::new(self.names, values))
    }
}

/// Integer gauges by label values.
#[derive(Debug, Clone)]
pub struct GaugeVec {
    names: &'static [&'static str],
    family: Family<LabelValues, Gauge>,
}

impl GaugeVec {
    pub fn with_label_values(&self, values: &[&str]) -> Gauge {
        self.family
            .get_or_create_owned(&LabelValues::new(self.names, values))
    }
}

/// Floating-point gauges by label values.
#[derive(Debug, Clone)]
pub struct FloatGaugeVec {
    names: &'static [&'static str],
    family: Family<LabelValues, FloatGauge>,
}

impl FloatGaugeVec {
    pub fn with_label_values(&self, values: &[&str]) -> FloatGauge {
        self.family
            .get_or_create_owned(&LabelValues::new(self.names, values))
    }
}

/// Histograms by label values.
#[derive(Debug, Clone)]
pub struct HistogramVec {
    names: &'static [&'static str],
    family: Family<LabelValues, RawHistogram, Buckets>,
}

impl HistogramVec {
    pub fn with_label_values(&self, values: &[&str]) -> Histogram {
        Histogram(
            self.family
                .get_or_create_owned(&LabelValues::new(self.names, values)),
        )
    }
}

// The wrappers encode as what they wrap.
macro_rules! encode_as_inner {
    ($($wrapper:ty => $kind:ident),* $(,)?) => {$(
        impl prometheus_client::metrics::TypedMetric for $wrapper {
            const TYPE: prometheus_client::metrics::MetricType =
                prometheus_client::metrics::MetricType::$kind;
        }
        impl prometheus_client::encoding::EncodeMetric for $wrapper {
            fn encode(
                &self,
                encoder: prometheus_client::encoding::MetricEncoder<'_>,
            ) -> Result<(), std::fmt::Error> {
                prometheus_client::encoding::EncodeMetric::encode(&self.0, encoder)
            }
            fn metric_type(&self) -> prometheus_client::metrics::MetricType {
                prometheus_client::metrics::MetricType::$kind
            }
        }
    )*};
}

encode_as_inner!(Counter => Counter, Gauge => Gauge, FloatGauge => Gauge, Histogram => Histogram);

/// Defines a counter (`name` ends in `_total`).
pub fn counter(name: &str, help: &str) -> Counter {
    let counter = Counter::default();
    register(name, help, counter.clone());
    counter
}

/// Defines a counter with labels `names`.
pub fn counter_vec(name: &str, help: &str, names: &'static [&'static str]) -> CounterVec {
    let family = Family::default();
    register(name, help, family.clone());
    CounterVec { names, family }
}

/// Defines a counter family over a typed label set.
pub fn counter_family<L: Labels>(name: &str, help: &str) -> CounterFamily<L> {
    let family = Family::default();
    register(name, help, family.clone());
    CounterFamily(family)
}

/// Defines an integer gauge.
pub fn gauge(name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    register(name, help, gauge.clone());
    gauge
}

/// Defines integer gauges with labels `names`.
pub fn gauge_vec(name: &str, help: &str, names: &'static [&'static str]) -> GaugeVec {
    let family = Family::default();
    register(name, help, family.clone());
    GaugeVec { names, family }
}

/// Defines floating-point gauges with labels `names`.
pub fn float_gauge_vec(name: &str, help: &str, names: &'static [&'static str]) -> FloatGaugeVec {
    let family = Family::default();
    register(name, help, family.clone());
    FloatGaugeVec { names, family }
}

/// Defines a histogram with upper bounds `buckets` (`+Inf` is implied).
pub fn histogram(name: &str, help: &str, buckets: &'static [f64]) -> Histogram {
    let histogram = Histogram(Buckets(buckets).new_metric());
    register(name, help, histogram.clone());
    histogram
}

/// Defines histograms with labels `names`.
pub fn histogram_vec(
    name: &str,
    help: &str,
    names: &'static [&'static str],
    buckets: &'static [f64],
) -> HistogramVec {
    let family = Family::new_with_constructor(Buckets(buckets));
    register(name, help, family.clone());
    HistogramVec { names, family }
}

/// Defines histograms over a typed label set (the hot paths: no
/// allocation per observation beyond the label set itself).
pub fn histogram_family<L: Labels>(
    name: &str,
    help: &str,
    buckets: &'static [f64],
) -> HistogramFamily<L> {
    let family = Family::new_with_constructor(Buckets(buckets));
    register(name, help, family.clone());
    HistogramFamily(family)
}
