//! Registration helpers for the bot's metrics (default registry). The metrics
//! themselves are `LazyLock` statics next to the code that moves them.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts};

// Names and labels are literals and each static registers exactly once
// (LazyLock), so the only failure left is a programming error caught by the
// first test that touches the metric.
#[allow(clippy::expect_used)]
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric options");
    prometheus::register(Box::new(metric.clone())).expect("metric registered once");
    metric
}

#[allow(clippy::expect_used)]
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let metric = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric options");
    prometheus::register(Box::new(metric.clone())).expect("metric registered once");
    metric
}

#[allow(clippy::expect_used)]
pub fn int_gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric options");
    prometheus::register(Box::new(metric.clone())).expect("metric registered once");
    metric
}
