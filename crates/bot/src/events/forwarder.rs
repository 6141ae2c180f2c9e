//! Batches Discord events to `POST /events`: a bounded queue (a full queue
//! drops and counts, never blocks the shard), flushed every
//! [`ForwarderConfig::flush_interval`] or [`ForwarderConfig::max_batch`] events.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use telemetry::metrics::CounterVec;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};
use tracing::{Instrument, Span};

use crate::clients::{GatewayApi, gateway::GatewayEvent};

/// `discord_events_dropped_total{reason}`: `queue_full` or `gateway_error`.
pub static EVENTS_DROPPED: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "discord_events_dropped_total",
        "Discord events not delivered to the gateway, by reason (queue_full, gateway_error)",
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
    close: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl EventForwarder {
    pub fn spawn<G: GatewayApi + 'static>(
        gateway: Arc<G>,
        config: ForwarderConfig,
    ) -> (Self, ForwarderTask) {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        telemetry::metrics::expose_queue(&tx);
        let (close, closed) = oneshot::channel();
        let task = tokio::spawn(run(gateway, config, rx, closed));
        (Self { tx }, ForwarderTask { close, task })
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
    /// Flushes what is queued, waiting at most `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.close.send(());
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!(
                context = "Shutdown",
                "event forwarder did not flush within {grace:?}"
            );
        }
    }
}

async fn run<G: GatewayApi>(
    gateway: Arc<G>,
    config: ForwarderConfig,
    mut rx: mpsc::Receiver<Queued>,
    mut closed: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(config.max_batch);
    let mut closing = false;
    while !closing {
        let first = tokio::select! {
            item = rx.recv() => item,
            _ = &mut closed => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        let deadline = Instant::now() + config.flush_interval;
        while batch.len() < config.max_batch {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => batch.push(item),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
                _ = &mut closed => {
                    closing = true;
                    break;
                }
            }
        }
        if closing {
            // The partial batch is completed from the queue below.
            break;
        }
        flush(gateway.as_ref(), &mut batch).await;
    }
    // Closing: deliver what is already queued, then stop.
    while let Ok(item) = rx.try_recv() {
        batch.push(item);
        if batch.len() >= config.max_batch {
            flush(gateway.as_ref(), &mut batch).await;
        }
    }
    if !batch.is_empty() {
        flush(gateway.as_ref(), &mut batch).await;
    }
}

async fn flush<G: GatewayApi>(gateway: &G, batch: &mut Vec<Queued>) {
    let span = tracing::info_span!("discord.events.flush", batch.size = batch.len());
    for queued in batch.iter() {
        span.follows_from(&queued.span);
    }
    let events: Vec<GatewayEvent> = batch.drain(..).map(|queued| queued.event).collect();
    async {
        if let Err(error) = gateway.post_events(&events).await {
            EVENTS_DROPPED
                .with_label_values(&["gateway_error"])
                .inc_by(events.len() as u64);
            tracing::warn!(
                context = "Discord",
                error = %error,
                dropped = events.len(),
                "cannot forward events to the gateway"
            );
        }
    }
    .instrument(span)
    .await;
}
