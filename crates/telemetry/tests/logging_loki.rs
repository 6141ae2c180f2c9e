//! Loki shipping against an in-test receiver: wire format, volume, outage,
//! rejection, hanging Loki, shutdown flush, oversized lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use telemetry::{
    ServiceInfo,
    config::Environment,
    logging::{
        Redactor, ServiceMeta,
        loki::{self, Buffer, Diagnostics, LokiAuth, LokiConfig, LokiShipper, TRUNCATION_MARKER},
        metrics,
    },
};
use testkit::loki::{LokiMode, LokiReceiver};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

const DEADLINE: Duration = Duration::from_secs(60);

struct Pipeline {
    shipper: LokiShipper,
    buffer: Arc<Buffer>,
    warnings: Arc<Mutex<Vec<String>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Pipeline {
    fn warnings(&self) -> Vec<String> {
        warnings(&self.warnings)
    }
}

fn warnings(sink: &Mutex<Vec<String>>) -> Vec<String> {
    sink.lock().unwrap().clone()
}

fn fast_config() -> LokiConfig {
    LokiConfig {
        batch_interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        flush_timeout: Duration::from_secs(20),
        ..LokiConfig::default()
    }
}

/// A subscriber with only the Loki layer (console off), set as this
/// thread's default; the shipper's warnings are collected.
fn pipeline(url: &str, config: &LokiConfig) -> Pipeline {
    let meta = Arc::new(ServiceMeta::with_host(
        ServiceInfo {
            name: "backend",
            version: "1.2.3",
        },
        Environment::Development,
        "testhost",
        42,
    ));
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&warnings);
    let diagnostics: Diagnostics = Arc::new(move |level: Level, message: String| {
        sink.lock().unwrap().push(format!("{level} {message}"));
    });
    let (layer, shipper) =
        loki::start(url, config, meta, Redactor::default(), diagnostics).unwrap();
    let buffer = Arc::clone(shipper.buffer());
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    Pipeline {
        shipper,
        buffer,
        warnings,
        _guard: guard,
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

fn seqs(entries: &[testkit::loki::ReceivedEntry]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e.json()["seq"].as_u64().unwrap())
        .collect()
}

fn assert_unique(seqs: &[u64]) {
    let unique: HashSet<&u64> = seqs.iter().collect();
    assert_eq!(unique.len(), seqs.len(), "duplicated entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_events_arrive_once_with_labels_and_timestamps() {
    let loki = LokiReceiver::start().await;
    let started = now_ns();
    let pipeline = pipeline(&loki.url(), &fast_config());
    const N: u64 = 100_000;
    for seq in 0..N {
        tracing::info!(
            seq,
            user_id = 42,
            route = "/users",
            ok = true,
            latency_ms = 1.5,
            "request done"
        );
    }
    let entries = loki.wait_for_entries(N as usize, DEADLINE).await;
    let report = pipeline.shipper.shutdown().await.unwrap();
    let ended = now_ns();

    assert_eq!(entries.len(), N as usize);
    let mut seqs = seqs(&entries);
    assert_unique(&seqs);
    seqs.sort_unstable();
    assert_eq!(seqs, (0..N).collect::<Vec<_>>());
    for entry in entries.iter().step_by(997) {
        assert_eq!(entry.labels.len(), 3);
        assert_eq!(entry.labels["app"], "backend");
        assert_eq!(entry.labels["environment"], "development");
        assert_eq!(entry.labels["level"], "info");
        assert!(entry.timestamp_ns >= started && entry.timestamp_ns <= ended);
        let line = entry.json();
        assert_eq!(line["message"], "request done");
        assert_eq!(line["service"], "backend");
        assert_eq!(line["latency_ms"], 1.5);
        // The line's timestamp is the entry's, to the millisecond.
        let stamp =
            chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(
            stamp.timestamp_millis() as i128,
            entry.timestamp_ns / 1_000_000
        );
    }
    assert_eq!(pipeline.buffer.stats.shipped.load(Ordering::Relaxed), N);
    assert_eq!(pipeline.buffer.stats.dropped(), 0);
    assert_eq!(report.shipped_total, N);
    assert!(metrics::EVENTS_SHIPPED.get() >= N);
    // Every push stays far below Loki's 4 MB message limit.
    assert!(
        loki.pushes()
            .iter()
            .all(|p| p.entries > 0 && p.entries <= 10_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_become_the_level_label_and_auth_headers_are_sent() {
    let loki = LokiReceiver::start().await;
    let config = LokiConfig {
        tenant: Some("team-a".into()),
        auth: Some(LokiAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        }),
        ..fast_config()
    };
    let pipeline = pipeline(&loki.url(), &config);
    tracing::error!(seq = 0_u64, "e");
    tracing::warn!(seq = 1_u64, "w");
    tracing::info!(seq = 2_u64, "i");
    tracing::debug!(seq = 3_u64, "d");
    tracing::trace!(seq = 4_u64, "t");
    let entries = loki.wait_for_entries(5, DEADLINE).await;
    for entry in &entries {
        assert_eq!(entry.labels["level"], entry.json()["level"]);
    }
    let levels: HashSet<String> = entries.iter().map(|e| e.labels["level"].clone()).collect();
    assert_eq!(levels.len(), 5);
    let push = &loki.pushes()[0];
    assert_eq!(push.headers["x-scope-orgid"], "team-a");
    assert_eq!(push.headers["authorization"], "Basic dTpw");
    assert_eq!(push.headers["content-type"], "application/x-protobuf");
    pipeline.shipper.shutdown().await.unwrap();
}

/// Emits `n` events at a steady pace (one every `every`), numbering them
/// from `first`.
async fn emit_steadily(first: u64, n: u64, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    for seq in first..first + n {
        if seq % 10 == 0 {
            ticker.tick().await;
        }
        tracing::info!(
            seq,
            user_id = 42,
            route = "/users",
            ok = true,
            "request done"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_the_cap_loses_nothing() {
    let loki = LokiReceiver::start().await;
    let pipeline = pipeline(&loki.url(), &fast_config());
    emit_steadily(0, 100, Duration::from_millis(1)).await;
    loki.wait_for_entries(100, DEADLINE).await;

    loki.stop().await;
    emit_steadily(100, 2_000, Duration::from_millis(2)).await;
    loki.resume().await;
    emit_steadily(2_100, 100, Duration::from_millis(1)).await;

    let entries = loki.wait_for_entries(2_200, DEADLINE).await;
    let warnings = pipeline.warnings();
    let report = pipeline.shipper.shutdown().await.unwrap();
    let seqs = seqs(&entries);
    assert_unique(&seqs);
    assert_eq!(seqs.len(), 2_200);
    assert_eq!(report.dropped_total, 0);
    assert!(
        warnings.iter().any(|w| w.contains("Loki push failed")),
        "{warnings:?}"
    );
    assert!(warnings.iter().any(|w| w.contains("reachable again")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_the_cap_drops_and_counts_exactly() {
    let loki = LokiReceiver::start().await;
    let config = LokiConfig {
        max_buffer_bytes: 256 * 1024,
        ..fast_config()
    };
    let pipeline = pipeline(&loki.url(), &config);
    loki.stop().await;
    let mut produced = 0;
    let mut peak = 0;
    for _ in 0..20 {
        emit_steadily(produced, 500, Duration::from_millis(1)).await;
        produced += 500;
        peak = peak.max(pipeline.buffer.bytes());
    }
    assert!(
        pipeline
            .buffer
            .stats
            .dropped_buffer_full
            .load(Ordering::Relaxed)
            > 0
    );
    loki.resume().await;
    emit_steadily(produced, 100, Duration::from_millis(1)).await;
    produced += 100;
    let report = pipeline.shipper.shutdown().await.unwrap();

    let received = loki.entries();
    assert_unique(&seqs(&received));
    let stats = &pipeline.buffer.stats;
    assert_eq!(stats.dropped_shutdown.load(Ordering::Relaxed), 0);
    assert_eq!(
        received.len() as u64 + stats.dropped(),
        produced,
        "received + dropped must equal produced"
    );
    assert_eq!(
        report.dropped_total,
        stats.dropped_buffer_full.load(Ordering::Relaxed)
    );
    assert!(peak <= config.max_buffer_bytes, "{peak} > cap");
    assert!(
        metrics::EVENTS_DROPPED
            .with_label_values(&["buffer_full"])
            .get()
            >= stats.dropped_buffer_full.load(Ordering::Relaxed)
    );
    assert!(
        warnings(&pipeline.warnings)
            .iter()
            .any(|w| w.contains("buffer full"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_batch_is_dropped_counted_and_warned_once() {
    let loki = LokiReceiver::start().await;
    loki.set_mode(LokiMode::Reject {
        status: 400,
        body: "entry for stream has timestamp too old".into(),
    });
    let pipeline = pipeline(&loki.url(), &fast_config());
    for round in 0..3_u64 {
        tracing::info!(seq = round, "rejected");
        testkit::poll_until(DEADLINE, "a rejected push", || async {
            (loki.pushes().len() as u64 > round).then_some(())
        })
        .await;
    }
    let stats = &pipeline.buffer.stats;
    testkit::poll_until(DEADLINE, "the drops counted", || async {
        (stats.dropped_rejected.load(Ordering::Relaxed) == 3).then_some(())
    })
    .await;
    let warnings: Vec<String> = pipeline
        .warnings()
        .into_iter()
        .filter(|w| w.contains("rejected"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("HTTP 400") && warnings[0].contains("timestamp too old"));

    loki.set_mode(LokiMode::Accept);
    tracing::info!(seq = 10_u64, "accepted");
    let entries = loki.wait_for_entries(1, DEADLINE).await;
    assert_eq!(entries[0].json()["seq"], 10);
    pipeline.shipper.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried() {
    let loki = LokiReceiver::start().await;
    loki.set_mode(LokiMode::Fail {
        status: 429,
        retry_after: Some(0),
    });
    let pipeline = pipeline(&loki.url(), &fast_config());
    tracing::info!(seq = 1_u64, "kept");
    testkit::poll_until(DEADLINE, "two 429s", || async {
        (loki.pushes().len() >= 2).then_some(())
    })
    .await;
    loki.set_mode(LokiMode::Fail {
        status: 503,
        retry_after: None,
    });
    let before = loki.pushes().len();
    testkit::poll_until(DEADLINE, "a 503", || async {
        (loki.pushes().len() > before).then_some(())
    })
    .await;
    loki.set_mode(LokiMode::Accept);
    let entries = loki.wait_for_entries(1, DEADLINE).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(pipeline.buffer.stats.dropped(), 0);
    pipeline.shipper.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_loki_times_out_and_never_stalls_the_logging_thread() {
    let loki = LokiReceiver::start().await;
    loki.set_mode(LokiMode::Hang);
    let pipeline = pipeline(&loki.url(), &fast_config());
    let timeouts = || metrics::PUSH_FAILURES.with_label_values(&["timeout"]).get();
    let before = timeouts();
    tracing::info!(seq = 0_u64, "first");
    testkit::poll_until(DEADLINE, "a push to time out", || async {
        (timeouts() > before).then_some(())
    })
    .await;
    // Loki still hangs: logging goes on, every call returns.
    for seq in 1..5_000_u64 {
        tracing::info!(seq, "while hanging");
    }
    assert_eq!(pipeline.buffer.events(), 5_000);
    loki.set_mode(LokiMode::Accept);
    let entries = loki.wait_for_entries(5_000, DEADLINE).await;
    assert_unique(&seqs(&entries));
    pipeline.shipper.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_what_was_just_logged() {
    let loki = LokiReceiver::start().await;
    let config = LokiConfig {
        batch_interval: Duration::from_secs(30),
        ..fast_config()
    };
    let pipeline = pipeline(&loki.url(), &config);
    for seq in 0..50_u64 {
        tracing::info!(seq, "just before shutdown");
    }
    let report = pipeline.shipper.shutdown().await.unwrap();
    assert_eq!((report.flushed, report.dropped), (50, 0));
    assert_eq!(loki.entry_count(), 50, "delivered before shutdown returned");
    assert!(report.to_string().contains("50 events flushed, 0 dropped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_at_the_flush_timeout_and_counts() {
    let loki = LokiReceiver::start().await;
    loki.set_mode(LokiMode::Hang);
    let config = LokiConfig {
        timeout: Duration::from_secs(30),
        flush_timeout: Duration::from_millis(500),
        ..fast_config()
    };
    let pipeline = pipeline(&loki.url(), &config);
    for seq in 0..20_u64 {
        tracing::info!(seq, "never delivered");
    }
    let report = pipeline.shipper.shutdown().await.unwrap();
    assert_eq!((report.flushed, report.dropped), (0, 20));
    assert_eq!(pipeline.buffer.events(), 0);
    // Logged after shutdown: refused and counted, not lost silently.
    tracing::info!("too late");
    assert_eq!(
        pipeline
            .buffer
            .stats
            .dropped_shutdown
            .load(Ordering::Relaxed),
        21
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_line_is_truncated_not_poisoning_its_batch() {
    let loki = LokiReceiver::start().await;
    let pipeline = pipeline(&loki.url(), &fast_config());
    tracing::info!(seq = 0_u64, "before");
    let huge = "x".repeat(400 * 1024);
    tracing::info!(seq = 1_u64, body = huge.as_str(), "huge");
    tracing::info!(seq = 2_u64, "after");
    let entries = loki.wait_for_entries(3, DEADLINE).await;
    let huge = entries.iter().find(|e| e.json()["seq"] == 1).unwrap();
    assert!(huge.line.len() <= 256 * 1024);
    assert!(
        huge.json()["body"]
            .as_str()
            .unwrap()
            .ends_with(TRUNCATION_MARKER)
    );
    pipeline.shipper.shutdown().await.unwrap();
}
