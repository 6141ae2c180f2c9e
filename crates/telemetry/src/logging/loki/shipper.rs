//! The shipper task: takes batches off the buffer (by size or age), has
//! them pushed ([`push`](super::push)) until delivered, refused or out of
//! time, and flushes within a deadline at shutdown. Every batch ends in
//! [`Buffer::settle`], the one place its bytes, stats and counters change.
//!
//! Its own problems are reported through [`Diagnostics`] (the console),
//! never as `tracing` events: they must not feed the queue they describe.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};
use tracing::Level;

use super::{
    buffer::{Buffer, Entry, Settled},
    config::LokiConfig,
    encode::{EncodedBatch, StreamLabels, encode},
    push::{Backoff, PushError, Pusher},
};
use crate::logging::metrics;

/// Where the shipper's own warnings go: `(level, message)`.
pub type Diagnostics = Arc<dyn Fn(Level, String) + Send + Sync>;

/// One warning of a kind per this period; the others are counted.
const WARNING_PERIOD: Duration = Duration::from_secs(60);

/// What the shutdown flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Events delivered during the flush.
    pub flushed: u64,
    /// Events given up at shutdown (not delivered within the deadline).
    pub dropped: u64,
    /// Over the whole run.
    pub shipped_total: u64,
    pub dropped_total: u64,
}

impl std::fmt::Display for FlushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Loki flush: {} events flushed, {} dropped at shutdown (whole run: {} shipped, {} dropped)",
            self.flushed, self.dropped, self.shipped_total, self.dropped_total
        )
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// At most one warning of a kind per period; the rest are counted and
/// mentioned in the next one.
#[derive(Default)]
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn warn(&mut self, diagnostics: &Diagnostics, message: impl FnOnce() -> String) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < WARNING_PERIOD)
        {
            self.suppressed += 1;
            return;
        }
        let mut message = message();
        if self.suppressed > 0 {
            message.push_str(&format!(
                " ({} similar warnings suppressed)",
                self.suppressed
            ));
        }
        diagnostics(Level::WARN, message);
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// How often the buffer gauges are refreshed while a push is retried.
const GAUGE_REFRESH: Duration = Duration::from_millis(500);

enum Delivery {
    Done,
    /// The shutdown deadline passed first.
    Abandoned,
}

/// The task's state.
pub(crate) struct Shipper {
    rx: mpsc::UnboundedReceiver<Entry>,
    buffer: Arc<Buffer>,
    labels: StreamLabels,
    pusher: Pusher,
    batch_interval: Duration,
    batch_max_bytes: usize,
    flush_timeout: Duration,
    diagnostics: Diagnostics,
    stop: Option<oneshot::Receiver<Instant>>,
    deadline: Option<Instant>,
    carry: Option<Entry>,
    backoff: Backoff,
    failing_since: Option<Instant>,
    warn_rejected: RateLimited,
    warn_failing: RateLimited,
    warn_full: RateLimited,
    buffer_full_seen: u64,
    /// (shipped, dropped at shutdown) when the stop request arrived: the
    /// flush report counts from there, a batch in flight included.
    at_stop: (u64, u64),
}

impl Shipper {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<Entry>,
        buffer: Arc<Buffer>,
        labels: StreamLabels,
        client: reqwest::Client,
        base_url: &str,
        config: &LokiConfig,
        diagnostics: Diagnostics,
        stop: oneshot::Receiver<Instant>,
    ) -> Self {
        Self {
            rx,
            buffer,
            labels,
            pusher: Pusher {
                client,
                url: format!("{}/loki/api/v1/push", base_url.trim_end_matches('/')),
                tenant: config.tenant.clone(),
                auth: config.auth.clone(),
            },
            batch_interval: config.batch_interval,
            batch_max_bytes: config.batch_max_bytes,
            flush_timeout: config.flush_timeout,
            diagnostics,
            stop: Some(stop),
            deadline: None,
            carry: None,
            backoff: Backoff::new(),
            failing_since: None,
            warn_rejected: RateLimited::default(),
            warn_failing: RateLimited::default(),
            warn_full: RateLimited::default(),
            buffer_full_seen: 0,
            at_stop: (0, 0),
        }
    }

    /// Runs until shutdown is requested, then flushes.
    pub(crate) async fn run(mut self) -> FlushReport {
        // The first tick one interval from now, not at once: lines logged at
        // startup wait for company rather than leaving as a batch of one.
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + self.batch_interval,
            self.batch_interval,
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.deadline.is_none() {
            let buffer = Arc::clone(&self.buffer);
            tokio::select! {
                biased;
                () = self.wait_stop() => break,
                () = buffer.batch_ready.notified() => {}
                _ = ticker.tick() => {}
            }
            self.warn_if_buffer_full();
            self.buffer.publish_gauges();
            while self.deadline.is_none() {
                let Some(batch) = self.next_batch() else {
                    break;
                };
                self.deliver(batch).await;
            }
        }
        self.flush().await
    }

    /// Resolves when shutdown is requested, setting the deadline.
    async fn wait_stop(&mut self) {
        let Some(stop) = self.stop.as_mut() else {
            return std::future::pending().await;
        };
        let deadline = stop
            .await
            .unwrap_or_else(|_| Instant::now() + self.flush_timeout);
        self.stop = None;
        self.deadline = Some(deadline);
        let stats = &self.buffer.stats;
        self.at_stop = (
            stats.shipped.load(Ordering::Relaxed),
            stats.dropped_shutdown.load(Ordering::Relaxed),
        );
    }

    /// Takes up to `batch_max_bytes` of queued lines and encodes them.
    fn next_batch(&mut self) -> Option<EncodedBatch> {
        let mut entries = Vec::new();
        let mut size = 0;
        loop {
            let entry = match self.carry.take() {
                Some(entry) => entry,
                None => match self.rx.try_recv() {
                    Ok(entry) => entry,
                    Err(_) => break,
                },
            };
            if !entries.is_empty() && size + entry.line.len() > self.batch_max_bytes {
                self.carry = Some(entry);
                break;
            }
            size += entry.line.len();
            entries.push(entry);
        }
        if entries.is_empty() {
            return None;
        }
        let events = entries.len();
        let cost: usize = entries.iter().map(Entry::cost).sum();
        match encode(entries, &self.labels) {
            Ok(batch) => Some(batch),
            Err(error) => {
                self.buffer.settle(events, cost, Settled::Encode);
                (self.diagnostics)(
                    Level::ERROR,
                    format!("cannot encode a Loki batch of {events} events: {error}"),
                );
                self.next_batch()
            }
        }
    }

    /// Pushes `batch` until it is delivered, rejected, or the shutdown
    /// deadline passes.
    async fn deliver(&mut self, batch: EncodedBatch) -> Delivery {
        loop {
            let attempt = self.pusher.clone().push(batch.body.clone());
            let outcome = match self.until_deadline(attempt).await {
                Some(outcome) => outcome,
                None => return self.abandon(&batch),
            };
            match outcome {
                Ok(()) => {
                    self.buffer
                        .settle(batch.events, batch.cost, Settled::Shipped);
                    self.backoff.reset();
                    if let Some(since) = self.failing_since.take() {
                        (self.diagnostics)(
                            Level::INFO,
                            format!(
                                "Loki reachable again after {:.1}s",
                                since.elapsed().as_secs_f64()
                            ),
                        );
                    }
                    return Delivery::Done;
                }
                Err(PushError::Rejected { status, body }) => {
                    metrics::PUSH_FAILURES
                        .with_label_values(&["rejected"])
                        .inc();
                    self.buffer
                        .settle(batch.events, batch.cost, Settled::Rejected);
                    let events = batch.events;
                    self.warn_rejected.warn(&self.diagnostics, || {
                        format!("Loki rejected a batch of {events} events (HTTP {status}), dropped: {body}")
                    });
                    return Delivery::Done;
                }
                Err(PushError::Retry {
                    cause,
                    detail,
                    retry_after,
                }) => {
                    metrics::PUSH_FAILURES.with_label_values(&[cause]).inc();
                    self.failing_since.get_or_insert_with(Instant::now);
                    let cap = self.buffer.max_bytes();
                    self.warn_failing.warn(&self.diagnostics, || {
                        format!(
                            "Loki push failed ({cause}: {detail}); retrying with backoff, buffering up to {}",
                            mib(cap)
                        )
                    });
                    let pause = retry_after.unwrap_or_else(|| self.backoff.next());
                    let resume_at = Instant::now() + pause;
                    // In steps, so the buffer gauges stay current while Loki
                    // is away: that is when the dashboard is read.
                    loop {
                        self.buffer.publish_gauges();
                        let step = resume_at
                            .saturating_duration_since(Instant::now())
                            .min(GAUGE_REFRESH);
                        if step.is_zero() {
                            break;
                        }
                        if self
                            .until_deadline(tokio::time::sleep(step))
                            .await
                            .is_none()
                        {
                            return self.abandon(&batch);
                        }
                    }
                    self.warn_if_buffer_full();
                }
            }
        }
    }

    /// Runs `work` unless the shutdown deadline passes first (`None`).
    /// Before shutdown, a stop request only sets the deadline: the work
    /// goes on, bounded from then on.
    async fn until_deadline<T>(&mut self, work: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(work);
        loop {
            if let Some(deadline) = self.deadline {
                return tokio::time::timeout_at(deadline.into(), &mut work)
                    .await
                    .ok();
            }
            tokio::select! {
                output = &mut work => return Some(output),
                () = self.wait_stop() => {}
            }
        }
    }

    fn abandon(&mut self, batch: &EncodedBatch) -> Delivery {
        self.drop_at_shutdown(batch.events, batch.cost);
        Delivery::Abandoned
    }

    fn drop_at_shutdown(&self, events: usize, cost: usize) {
        self.buffer.settle(events, cost, Settled::Shutdown);
    }

    fn warn_if_buffer_full(&mut self) {
        let dropped = self
            .buffer
            .stats
            .dropped_buffer_full
            .load(Ordering::Relaxed);
        if dropped > self.buffer_full_seen {
            self.buffer_full_seen = dropped;
            let cap = self.buffer.max_bytes();
            self.warn_full.warn(&self.diagnostics, || {
                format!(
                    "Loki buffer full ({}): {dropped} events dropped so far (telemetry_log_events_dropped_total{{reason=\"buffer_full\"}})",
                    mib(cap)
                )
            });
        }
    }

    /// Delivers everything still queued before the deadline; what is left
    /// then is dropped and counted. Closing the channel first makes the
    /// count exact: a line logged after that is refused (and counted) by
    /// the buffer itself.
    async fn flush(mut self) -> FlushReport {
        let (shipped_before, shutdown_before) = self.at_stop;
        self.rx.close();
        // Checked before taking a batch: encoding what cannot be sent any
        // more would only delay the exit.
        while self
            .deadline
            .is_some_and(|deadline| Instant::now() < deadline)
        {
            let Some(batch) = self.next_batch() else {
                break;
            };
            if let Delivery::Abandoned = self.deliver(batch).await {
                break;
            }
        }
        // Past the deadline: count what could not be sent.
        let mut left = (0, 0);
        for entry in self
            .carry
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| self.rx.try_recv().ok()))
        {
            left = (left.0 + 1, left.1 + entry.cost());
        }
        if left.0 > 0 {
            self.drop_at_shutdown(left.0, left.1);
        }
        self.warn_if_buffer_full();
        let stats = &self.buffer.stats;
        FlushReport {
            flushed: stats.shipped.load(Ordering::Relaxed) - shipped_before,
            dropped: stats.dropped_shutdown.load(Ordering::Relaxed) - shutdown_before,
            shipped_total: stats.shipped.load(Ordering::Relaxed),
            dropped_total: stats.dropped(),
        }
    }
}
