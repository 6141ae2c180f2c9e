//! Peak memory while Loki is down: 10 000 events/s for 60 s into a shipper
//! whose Loki refuses connections. Ignored by default (a minute long, and
//! only meaningful in an optimised build); run by hand:
//!
//! ```sh
//! cargo test -p telemetry --release --test logging_outage_memory -- --ignored --nocapture
//! ```
//!
//! `OUTAGE_SECS` and `OUTAGE_RATE` change the duration and the rate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use telemetry::{
    ServiceInfo,
    config::Environment,
    logging::{
        Redactor, ServiceMeta,
        loki::{self, LokiConfig},
    },
};
use tracing_subscriber::layer::SubscriberExt;

/// `VmRSS` and `VmHWM` (peak) of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let pid = std::process::id();
    (
        testkit::memory_kib(pid, "VmRSS"),
        testkit::memory_kib(pid, "VmHWM"),
    )
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "a minute long; run by hand in release (see the file's header)"]
fn peak_memory_during_an_outage_stays_under_cap_plus_16_mib() {
    let secs = env_or("OUTAGE_SECS", 60);
    let rate = env_or("OUTAGE_RATE", 10_000);
    // A port nothing listens on: every push is refused.
    let port = testkit::free_port();
    let config = LokiConfig::default();
    let cap = config.max_buffer_bytes as u64;
    let (layer, shipper) = loki::start(
        &format!("http://127.0.0.1:{port}"),
        &config,
        Arc::new(ServiceMeta::with_host(
            ServiceInfo {
                name: "backend",
                version: "1.2.3",
            },
            Environment::Production,
            "benchhost",
            42,
        )),
        Redactor::default(),
        Arc::new(|_, message| eprintln!("shipper: {message}")),
    )
    .unwrap();
    let buffer = Arc::clone(shipper.buffer());
    let (baseline, _) = rss_kib();
    let started = Instant::now();
    let mut produced = 0_u64;
    let mut max_call = Duration::ZERO;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for second in 0..secs {
            let tick = started + Duration::from_secs(second);
            for i in 0..rate {
                // Pace in 100 slices per second.
                if i % (rate / 100).max(1) == 0 {
                    let at = tick + Duration::from_micros(1_000_000 * i / rate);
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                }
                let call = Instant::now();
                tracing::info!(
                    seq = produced,
                    user_id = 449_506_572_624_986_122_u64,
                    route = "/api/users/:id",
                    status = 200,
                    latency_ms = 12.5,
                    "request completed"
                );
                max_call = max_call.max(call.elapsed());
                produced += 1;
            }
            let (rss, peak) = rss_kib();
            eprintln!(
                "t={:>2}s produced={produced} buffered={} bytes={} dropped={} rss={} MiB peak={} MiB",
                second + 1,
                buffer.events(),
                buffer.bytes(),
                buffer.stats.dropped_buffer_full.load(Ordering::Relaxed),
                rss / 1024,
                peak / 1024
            );
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(shipper.shutdown()).unwrap();
    let (_, peak) = rss_kib();
    eprintln!(
        "baseline={} MiB peak={} MiB cap={} MiB growth={} MiB slowest call={max_call:?} report: {report}",
        baseline / 1024,
        peak / 1024,
        cap >> 20,
        (peak - baseline) / 1024
    );
    assert_eq!(report.shipped_total + report.dropped_total, produced);
    assert!(
        (peak - baseline) * 1024 <= cap + 16 * 1024 * 1024,
        "peak growth {} MiB over cap {} MiB + 16",
        (peak - baseline) / 1024,
        cap >> 20
    );
}
