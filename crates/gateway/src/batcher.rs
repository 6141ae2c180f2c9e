//! Events from the bot, queued (bounded) and sent to the backend in batches:
//! when `max_batch` events are waiting or `flush_interval` after the first
//! one, whichever comes first. The queue is drained and flushed when the last
//! [`EventQueue`] handle is dropped (graceful shutdown).

use std::{sync::LazyLock, time::Duration};

use axum::body::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use telemetry::metrics::CounterVec;
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};

use crate::{
    clients::backend::{BackendClient, UpstreamError},
    config::Batching,
    error::GatewayError,
    events::Event,
};

/// Events by type and outcome: `forwarded`, `rejected` (the backend refused
/// the batch), `dropped` (the backend could not be reached in time) or
/// `queue_full` (refused to the bot with a 503).
pub static EVENTS_FORWARDED: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "events_forwarded_total",
        "Events received from the bot, by type and outcome",
        &["type", "outcome"],
    )
});

/// A batch the backend cannot take because it is down is retried (the
/// request was never received, so no duplicate is possible) with these
/// pauses, then dropped and counted.
const UNREACHABLE_BACKOFF: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EventQueue {
    sender: mpsc::Sender<Event>,
}

impl EventQueue {
    /// Queues every event or none (503 when the queue lacks room for all).
    pub fn try_enqueue(&self, events: Vec<Event>) -> Result<usize, GatewayError> {
        let count = events.len();
        let Ok(permits) = self.sender.try_reserve_many(count) else {
            for event in &events {
                count_events(event, "queue_full");
            }
            return Err(GatewayError::QueueFull);
        };
        for (permit, event) in permits.zip(events) {
            permit.send(event);
        }
        Ok(count)
    }
}

/// Starts the batching task; it ends after the last queue handle is dropped
/// and the remaining events are flushed.
pub fn spawn(client: BackendClient, batching: Batching) -> (EventQueue, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(batching.queue_capacity);
    telemetry::metrics::expose_queue(&sender);
    let task = tokio::spawn(run(receiver, client, batching));
    (EventQueue { sender }, task)
}

async fn run(mut receiver: mpsc::Receiver<Event>, client: BackendClient, batching: Batching) {
    let mut batch = Vec::with_capacity(batching.max_batch);
    loop {
        let Some(first) = receiver.recv().await else {
            break;
        };
        batch.push(first);
        let deadline = Instant::now() + batching.flush_interval;
        let mut closed = false;
        while batch.len() < batching.max_batch {
            let room = batching.max_batch - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, room)).await {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => {}
                Err(_elapsed) => break,
            }
        }
        flush(&client, &mut batch).await;
        if closed {
            break;
        }
    }
    tracing::info!(context = "Shutdown", "event queue drained");
}

async fn flush(client: &BackendClient, batch: &mut Vec<Event>) {
    if batch.is_empty() {
        return;
    }
    let events = std::mem::take(batch);
    let outcome = match send(client, &events).await {
        Ok(()) => "forwarded",
        Err(BatchError::Rejected(status, body)) => {
            tracing::warn!(status, body = %body, events = events.len(), "backend rejected an event batch");
            "rejected"
        }
        Err(BatchError::Upstream(error)) => {
            tracing::warn!(error = %error, events = events.len(), "event batch dropped");
            "dropped"
        }
    };
    for event in &events {
        count_events(event, outcome);
    }
}

enum BatchError {
    Rejected(u16, String),
    Upstream(UpstreamError),
}

async fn send(client: &BackendClient, events: &[Event]) -> Result<(), BatchError> {
    let body = serde_json::to_vec(&serde_json::json!({ "events": events }))
        .map(Bytes::from)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut pauses = UNREACHABLE_BACKOFF.iter();
    loop {
        let result = client
            .send(Method::POST, "/api/events", headers.clone(), body.clone())
            .await;
        match result {
            Ok(response) if response.status.is_success() => return Ok(()),
            Ok(response) => {
                let text = String::from_utf8_lossy(&response.body).into_owned();
                return Err(BatchError::Rejected(response.status.as_u16(), text));
            }
            Err(UpstreamError::Unavailable(error)) => match pauses.next() {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => return Err(BatchError::Upstream(UpstreamError::Unavailable(error))),
            },
            Err(error) => return Err(BatchError::Upstream(error)),
        }
    }
}

fn count_events(event: &Event, outcome: &str) {
    EVENTS_FORWARDED
        .with_label_values(&[event.kind.as_str(), outcome])
        .inc();
}
