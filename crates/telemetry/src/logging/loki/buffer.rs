//! The bounded hand-off between logging threads and the shipper.
//!
//! A logging thread never waits here: it reserves bytes with one atomic
//! add, and either drops the event (counted) or sends it on a lock-free
//! channel. Bytes stay reserved until the shipper is done with the event
//! (delivered or dropped), so events held in a batch that is being retried
//! count against the cap too: memory is bounded by `LOKI_MAX_BUFFER` during
//! an outage of any length.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::SystemTime,
};

use tokio::sync::{Notify, mpsc};
use tracing::Level;

use crate::logging::{metrics, trace_ids::TraceIds};

/// Per-entry memory beyond the line's heap buffer: the entry itself (its
/// trace ids inline) and its slot in the channel, rounded up.
const ENTRY_OVERHEAD: usize = 128;

/// One line waiting for Loki.
#[derive(Debug)]
pub struct Entry {
    pub time: SystemTime,
    pub level: Level,
    pub line: String,
    /// Sent as the entry's structured metadata too (Loki 3).
    pub trace: Option<TraceIds>,
}

impl Entry {
    /// What this entry counts against the cap.
    pub fn cost(&self) -> usize {
        self.line.capacity() + ENTRY_OVERHEAD
    }
}

/// Exact counts of one shipper's life, for the shutdown line and tests
/// (the Prometheus counters are process-wide).
#[derive(Debug, Default)]
pub struct Stats {
    pub shipped: AtomicU64,
    pub dropped_buffer_full: AtomicU64,
    pub dropped_rejected: AtomicU64,
    pub dropped_shutdown: AtomicU64,
    pub dropped_encode: AtomicU64,
}

impl Stats {
    pub fn dropped(&self) -> u64 {
        self.dropped_buffer_full.load(Ordering::Relaxed)
            + self.dropped_rejected.load(Ordering::Relaxed)
            + self.dropped_shutdown.load(Ordering::Relaxed)
            + self.dropped_encode.load(Ordering::Relaxed)
    }
}

/// How events the buffer counted ended (each outcome has its exact stat
/// and its Prometheus counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Shipped,
    /// Loki refused the batch for good (a 4xx other than 429).
    Rejected,
    /// Not delivered before the shutdown deadline, or logged after it.
    Shutdown,
    /// The batch could not be encoded.
    Encode,
    /// Refused at the door: the buffer was at its cap.
    BufferFull,
}

impl Stats {
    /// Counts `events` under `outcome`, here and in Prometheus.
    fn count(&self, outcome: Settled, events: usize) {
        let n = events as u64;
        let (stat, reason) = match outcome {
            Settled::Shipped => {
                metrics::EVENTS_SHIPPED.inc_by(n);
                self.shipped.fetch_add(n, Ordering::Relaxed);
                return;
            }
            Settled::Rejected => (&self.dropped_rejected, "rejected"),
            Settled::Shutdown => (&self.dropped_shutdown, "shutdown"),
            Settled::Encode => (&self.dropped_encode, "encode"),
            Settled::BufferFull => (&self.dropped_buffer_full, "buffer_full"),
        };
        stat.fetch_add(n, Ordering::Relaxed);
        metrics::dropped(reason, n);
    }
}

/// The producer side, shared by the layer (and readable by tests).
#[derive(Debug)]
pub struct Buffer {
    tx: mpsc::UnboundedSender<Entry>,
    max_bytes: usize,
    batch_bytes: usize,
    /// Queued plus held by the shipper.
    bytes: AtomicUsize,
    events: AtomicUsize,
    pub(crate) batch_ready: Notify,
    pub stats: Stats,
}

impl Buffer {
    pub fn new(
        max_bytes: usize,
        batch_bytes: usize,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Entry>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let buffer = Self {
            tx,
            max_bytes,
            batch_bytes: batch_bytes.max(1),
            bytes: AtomicUsize::new(0),
            events: AtomicUsize::new(0),
            batch_ready: Notify::new(),
            stats: Stats::default(),
        };
        (Arc::new(buffer), rx)
    }

    /// Queues `entry`, or drops and counts it when the buffer is full or the
    /// shipper has stopped. Never blocks, never does I/O. The hot path is two
    /// atomic adds and a lock-free send; the Prometheus gauges are set by
    /// the shipper, not here, to keep shared cache lines few.
    pub fn push(&self, entry: Entry) -> bool {
        let cost = entry.cost();
        let before = self.bytes.fetch_add(cost, Ordering::AcqRel);
        if before + cost > self.max_bytes {
            self.bytes.fetch_sub(cost, Ordering::AcqRel);
            self.stats.count(Settled::BufferFull, 1);
            return false;
        }
        self.events.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(entry).is_err() {
            // The shipper closed the channel: shutdown is under way or over.
            self.settle(1, cost, Settled::Shutdown);
            return false;
        }
        // Wake the shipper each time another batch worth of bytes is held
        // (cheaper than tracking the channel's own size; it drains it all).
        if before / self.batch_bytes != (before + cost) / self.batch_bytes {
            self.batch_ready.notify_one();
        }
        true
    }

    /// `events` held entries costing `bytes` are done with, as `outcome`:
    /// the one place their bytes are released and their end counted.
    pub(crate) fn settle(&self, events: usize, bytes: usize, outcome: Settled) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.events.fetch_sub(events, Ordering::Relaxed);
        self.stats.count(outcome, events);
        self.publish_gauges();
    }

    /// Sets `telemetry_log_buffer_{events,bytes}` from the counters.
    pub(crate) fn publish_gauges(&self) {
        metrics::BUFFER_EVENTS.set(self.events() as i64);
        metrics::BUFFER_BYTES.set(self.bytes() as i64);
    }

    /// Accounted bytes held (queued or in flight).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Events held (queued or in flight).
    pub fn events(&self) -> usize {
        self.events.load(Ordering::Relaxed)
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: usize) -> Entry {
        Entry {
            trace: None,
            time: SystemTime::now(),
            level: Level::INFO,
            line: "x".repeat(len),
        }
    }

    #[test]
    fn full_buffer_drops_and_counts() {
        let (buffer, mut rx) = Buffer::new(1000, 10_000);
        let accepted = (0..20).filter(|_| buffer.push(entry(100))).count();
        assert_eq!(accepted, 4); // 4 × 228 = 912 ≤ 1000
        assert_eq!(buffer.stats.dropped_buffer_full.load(Ordering::Relaxed), 16);
        assert!(buffer.bytes() <= buffer.max_bytes());
        // Bytes come back only when the shipper releases them.
        let taken = rx.try_recv().unwrap();
        assert!(!buffer.push(entry(100)));
        buffer.settle(1, taken.cost(), Settled::Shipped);
        assert!(buffer.push(entry(100)));
    }

    #[test]
    fn closed_channel_counts_shutdown_drops() {
        let (buffer, mut rx) = Buffer::new(1000, 10_000);
        rx.close();
        assert!(!buffer.push(entry(10)));
        assert_eq!(buffer.stats.dropped_shutdown.load(Ordering::Relaxed), 1);
        assert_eq!((buffer.events(), buffer.bytes()), (0, 0));
    }
}
