//! `cargo bench -p telemetry`: what logging costs the calling thread, and
//! how many events per second the Loki shipper moves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use telemetry::{
    ServiceInfo,
    config::Environment,
    logging::{
        ConsoleLayer, ConsoleStyle, Redactor, ServiceMeta,
        loki::{self, LokiConfig},
    },
};
use testkit::loki::LokiReceiver;
use tracing_subscriber::layer::SubscriberExt;

fn meta() -> Arc<ServiceMeta> {
    Arc::new(ServiceMeta::with_host(
        ServiceInfo {
            name: "backend",
            version: "1.2.3",
        },
        Environment::Production,
        "benchhost",
        42,
    ))
}

/// The benchmarked event: a message and five fields of mixed types.
#[inline(always)]
fn event(seq: u64) {
    tracing::info!(
        seq,
        user_id = 449_506_572_624_986_122_u64,
        route = "/api/users/:id",
        status = 200,
        latency_ms = 12.5,
        "request completed"
    );
}

/// Benchmarks `event` with criterion (mean per call, wall clock), then
/// times one million calls one by one and prints their percentiles: on a
/// shared machine the median is what preemption does not distort (it hits
/// a few calls hard rather than every call a little).
fn bench_event(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
) {
    let mut seq = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            seq += 1;
            event(black_box(seq));
        });
    });
    const CALLS: usize = 1_000_000;
    let overhead = {
        let mut empty: Vec<u64> = (0..10_000)
            .map(|_| {
                let start = Instant::now();
                black_box(());
                start.elapsed().as_nanos() as u64
            })
            .collect();
        empty.sort_unstable();
        empty[empty.len() / 2]
    };
    let mut samples: Vec<u64> = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        seq += 1;
        let start = Instant::now();
        event(black_box(seq));
        samples.push((start.elapsed().as_nanos() as u64).saturating_sub(overhead));
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((CALLS as f64 * q) as usize).min(CALLS - 1)];
    eprintln!(
        "PER-CALL {name}: p50={}ns p90={}ns p99={}ns p99.9={}ns max={}ns (timer overhead {overhead}ns subtracted)",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        samples[CALLS - 1]
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Per-event cost on the calling thread: console off, Loki on (shipping to
/// a local receiver), and the console formats for comparison.
fn calling_thread_cost(c: &mut Criterion) {
    let rt = runtime();
    let receiver = rt.block_on(LokiReceiver::start());
    let config = LokiConfig {
        max_buffer_bytes: 1024 * 1024 * 1024,
        ..LokiConfig::default()
    };
    let (layer, shipper) = loki::start(
        &receiver.url(),
        &config,
        meta(),
        Redactor::default(),
        Arc::new(|_, message| eprintln!("shipper: {message}")),
    )
    .unwrap();
    let buffer = Arc::clone(shipper.buffer());
    let mut group = c.benchmark_group("event_5_fields");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        bench_event(&mut group, "loki_on_console_off");
    });
    let report = rt.block_on(shipper.shutdown()).unwrap();
    eprintln!(
        "loki_on_console_off: {} shipped, {} dropped (buffer_full {})",
        report.shipped_total,
        report.dropped_total,
        buffer
            .stats
            .dropped_buffer_full
            .load(std::sync::atomic::Ordering::Relaxed)
    );

    for (name, style) in [
        ("console_json_to_sink", ConsoleStyle::Json),
        (
            "console_pretty_to_sink",
            ConsoleStyle::Pretty { color: false },
        ),
    ] {
        let layer = ConsoleLayer::new(std::io::sink, style, meta(), Redactor::default());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            bench_event(&mut group, name);
        });
    }
    group.finish();
}

/// Events per second from `info!` to decoded at the receiver (producer,
/// shipper and receiver share the machine).
fn shipper_throughput(c: &mut Criterion) {
    const EVENTS: u64 = 200_000;
    let rt = runtime();
    let mut group = c.benchmark_group("shipper");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(EVENTS));
    group.bench_function("events_into_local_receiver", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let receiver = rt.block_on(LokiReceiver::start());
                let config = LokiConfig {
                    max_buffer_bytes: 1024 * 1024 * 1024,
                    batch_interval: Duration::from_millis(100),
                    ..LokiConfig::default()
                };
                let (layer, shipper) = loki::start(
                    &receiver.url(),
                    &config,
                    meta(),
                    Redactor::default(),
                    Arc::new(|_, message| eprintln!("shipper: {message}")),
                )
                .unwrap();
                let started = Instant::now();
                tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer),
                    || {
                        for seq in 0..EVENTS {
                            event(seq);
                        }
                    },
                );
                rt.block_on(receiver.wait_for_entries(EVENTS as usize, Duration::from_secs(120)));
                total += started.elapsed();
                let report = rt.block_on(shipper.shutdown()).unwrap();
                assert_eq!(report.shipped_total, EVENTS);
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, calling_thread_cost, shipper_throughput);
criterion_main!(benches);
