//! Batches Discord events to `POST /events`: a bounded queue (a full queue
//! drops and counts, never blocks the shard), flushed every
//! [`ForwarderConfig::flush_interval`] or [`ForwarderConfig::max_batch`] events.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use telemetry::{
    batching::{self, BatchConfig, BatchReceiver, Closer, DeadlinePassed},
    metrics::CounterVec,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{Instrument, Span};

use crate::clients::{GatewayApi, gateway::GatewayEvent};

/// `discord_events_dropped_total{reason}`: `queue_full` (the queue was
/// full), `gateway_error` (the gateway did not take the batch) or `shutdown`
/// (still queued at the shutdown deadline).
pub static EVENTS_DROPPED: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "discord_events_dropped_total",
        "Discord events not delivered to the gateway, by reason (queue_full, gateway_error, shutdown)",
        &["reason"],
    )
});

#[derive(Debug, Clone, Copy)]
pub struct ForwarderConfig {
    /// Events waiting at most; beyond, new events are dropped and counted.
    pub capacity: usize,
    pub max_batch: usize,
    pub flush_interval: Duration,
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_batch: 100,
            flush_interval: Duration::from_millis(250),
        }
    }
}

/// Where event logic puts its events.
pub trait EventSink: Send + Sync {
    /// Queues `event`; `false` when it was dropped.
    fn submit(&self, event: GatewayEvent) -> bool;
}

struct Queued {
    event: GatewayEvent,
    /// The span of the Discord event, linked from the flush span so a trace
    /// shows which events a batch carried.
    span: Span,
}

/// The producer side; cheap to clone.
#[derive(Clone)]
pub struct EventForwarder {
    tx: mpsc::Sender<Queued>,
}

/// Stops the flushing task after a last flush.
pub struct ForwarderTask {
    closer: Closer,
    task: JoinHandle<()>,
}

impl EventForwarder {
    pub fn spawn<G: GatewayApi + 'static>(
        gateway: Arc<G>,
        config: ForwarderConfig,
    ) -> (Self, ForwarderTask) {
        let (tx, queue, closer) = batching::channel(BatchConfig {
            capacity: config.capacity,
            max_batch: config.max_batch,
            flush_interval: config.flush_interval,
        });
        telemetry::metrics::expose_queue(&tx);
        let task = tokio::spawn(run(gateway, queue));
        (Self { tx }, ForwarderTask { closer, task })
    }
}

impl EventSink for EventForwarder {
    fn submit(&self, event: GatewayEvent) -> bool {
        let queued = Queued {
            event,
            span: Span::current(),
        };
        match self.tx.try_send(queued) {
            Ok(()) => true,
            Err(_) => {
                EVENTS_DROPPED.with_label_values(&["queue_full"]).inc();
                false
            }
        }
    }
}

impl ForwarderTask {
    /// Flushes what is queued, waiting at most `grace`; events still queued
    /// then are counted (`shutdown`) and logged with their number.
    pub async fn shutdown(mut self, grace: Duration) {
        self.closer.close(grace);
        // The task gives up at the deadline by itself; the margin only
        // guards against a bug keeping it busy.
        if tokio::time::timeout(grace + Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            tracing::error!(
                context = "Shutdown",
                "event forwarder did not stop at its deadline"
            );
        }
    }
}

async fn run<G: GatewayApi>(gateway: Arc<G>, mut queue: BatchReceiver<Queued>) {
    while let Some(batch) = queue.next_batch().await {
        let span = tracing::info_span!("discord.events.flush", batch.size = batch.len());
        for queued in &batch {
            span.follows_from(&queued.span);
        }
        let events: Vec<GatewayEvent> = batch.into_iter().map(|queued| queued.event).collect();
        let post = gateway.post_events(&events).instrument(span.clone());
        match queue.before_deadline(post).await {
            Ok(Ok(_accepted)) => {}
            Ok(Err(error)) => {
                let _entered = span.enter();
                dropped("gateway_error", events.len());
                tracing::warn!(
                    context = "Discord",
                    error = %error,
                    dropped = events.len(),
                    "{} events lost: the gateway did not take their batch",
                    events.len()
                );
            }
            Err(DeadlinePassed) => {
                let lost = events.len() + queue.close_and_drain().len();
                dropped("shutdown", lost);
                tracing::warn!(
                    context = "Shutdown",
                    dropped = lost,
                    "{lost} events lost: still queued at the flush deadline"
                );
                return;
            }
        }
    }
}

fn dropped(reason: &str, events: usize) {
    EVENTS_DROPPED
        .with_label_values(&[reason])
        .inc_by(u64::try_from(events).unwrap_or(u64::MAX));
}
