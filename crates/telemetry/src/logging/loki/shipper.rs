//! The shipper task: takes batches off the buffer (by size or age), pushes
//! them with a timeout, retries what can succeed later, drops (and counts)
//! what Loki refuses, and flushes within a deadline at shutdown.
//!
//! Its own problems are reported through [`Diagnostics`] (the console),
//! never as `tracing` events: they must not feed the queue they describe.

use std::{
    hash::{BuildHasher, Hasher},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};
use tracing::Level;

use super::{
    buffer::{Buffer, Entry},
    config::{LokiAuth, LokiConfig},
    encode::{EncodedBatch, StreamLabels, encode},
};
use crate::logging::metrics;

/// Where the shipper's own warnings go: `(level, message)`.
pub type Diagnostics = Arc<dyn Fn(Level, String) + Send + Sync>;

/// The longest pause between two attempts, and the longest `Retry-After`
/// honoured.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// One warning of a kind per this period; the others are counted.
const WARNING_PERIOD: Duration = Duration::from_secs(60);
/// How much of Loki's answer a warning quotes.
const QUOTE_LIMIT: usize = 512;

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

/// Everything a push needs, owned so a request future can outlive a borrow.
#[derive(Clone)]
struct Pusher {
    client: reqwest::Client,
    url: String,
    tenant: Option<String>,
    auth: Option<LokiAuth>,
}

enum PushError {
    /// Worth retrying: network, timeout, 429, 5xx.
    Retry {
        cause: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// Loki will never take this batch.
    Rejected { status: u16, body: String },
}

impl Pusher {
    async fn push(self, body: Vec<u8>) -> Result<(), PushError> {
        let request = super::config::authorize(
            self.client
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body),
            self.tenant.as_deref(),
            self.auth.as_ref(),
        );
        let started = Instant::now();
        let outcome = request.send().await;
        metrics::PUSH_DURATION.observe(started.elapsed().as_secs_f64());
        let response = outcome.map_err(|error| PushError::Retry {
            cause: if error.is_timeout() {
                "timeout"
            } else {
                "network"
            },
            detail: error_chain(&error),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        let body = quote(&body);
        let code = status.as_u16();
        Err(match code {
            429 => PushError::Retry {
                cause: "rate_limited",
                detail: format!("{status}: {body}"),
                retry_after,
            },
            408 | 500..=599 => PushError::Retry {
                cause: if code == 408 {
                    "timeout"
                } else {
                    "server_error"
                },
                detail: format!("{status}: {body}"),
                retry_after,
            },
            _ => PushError::Rejected { status: code, body },
        })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{:?}…", &body[..cut]),
        None => format!("{body:?}"),
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (date.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
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

/// Exponential backoff with jitter: a random pause in [d/2, d], d doubling
/// from 250 ms up to 30 s.
struct Backoff {
    attempt: u32,
    rng: u64,
}

impl Backoff {
    fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            attempt: 0,
            rng: seed | 1,
        }
    }

    fn next(&mut self) -> Duration {
        let ceiling = FIRST_BACKOFF
            .saturating_mul(1 << self.attempt.min(16))
            .min(MAX_BACKOFF);
        self.attempt += 1;
        // xorshift64: plenty for jitter, no dependency.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let fraction = (self.rng % 1000) as f64 / 1000.0;
        ceiling.mul_f64(0.5 + fraction / 2.0)
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

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
                self.buffer.release(events, cost);
                self.buffer
                    .stats
                    .dropped_encode
                    .fetch_add(events as u64, Ordering::Relaxed);
                metrics::dropped("encode", events as u64);
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
                    self.buffer.release(batch.events, batch.cost);
                    self.buffer
                        .stats
                        .shipped
                        .fetch_add(batch.events as u64, Ordering::Relaxed);
                    metrics::EVENTS_SHIPPED.inc_by(batch.events as u64);
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
                    self.buffer.release(batch.events, batch.cost);
                    self.buffer
                        .stats
                        .dropped_rejected
                        .fetch_add(batch.events as u64, Ordering::Relaxed);
                    metrics::dropped("rejected", batch.events as u64);
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
        self.buffer.release(events, cost);
        self.buffer
            .stats
            .dropped_shutdown
            .fetch_add(events as u64, Ordering::Relaxed);
        metrics::dropped("shutdown", events as u64);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let pauses: Vec<Duration> = (0..12).map(|_| backoff.next()).collect();
        assert!(pauses[0] >= Duration::from_millis(125) && pauses[0] <= FIRST_BACKOFF);
        assert!(pauses.iter().all(|p| *p <= MAX_BACKOFF));
        assert!(pauses[11] >= MAX_BACKOFF / 2);
        backoff.reset();
        assert!(backoff.next() <= FIRST_BACKOFF);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn long_answers_are_quoted_shortly() {
        assert_eq!(quote(" bad line "), "\"bad line\"");
        assert!(quote(&"x".repeat(2000)).chars().count() < QUOTE_LIMIT + 4);
    }
}
