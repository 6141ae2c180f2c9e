//! Events from the bot, queued (bounded) and sent to the backend in batches:
//! when `max_batch` events are waiting or `flush_interval` after the first
//! one, whichever comes first.
//!
//! Delivery is at least once between the gateway and the backend: a batch
//! leaves the gateway's hands only when the backend committed it (2xx) or
//! refused it (4xx), and each batch carries an `Idempotency-Key`, so a retry
//! after a lost answer is not counted twice. Every event that does not reach
//! the backend is counted under its outcome and logged once per batch with
//! its number: `rejected`, `undelivered` (retries exhausted) or `shutdown`
//! (still queued at the flush deadline).

use std::{collections::HashMap, sync::LazyLock, time::Duration};

use axum::body::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use telemetry::batching::{self, BatchConfig, BatchReceiver, Closer, DeadlinePassed};
use telemetry::metrics::CounterVec;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    clients::backend::BackendClient,
    config::Batching,
    error::GatewayError,
    events::{Event, EventType},
};

/// Events by type and outcome: `forwarded` (the backend committed them),
/// `rejected` (the backend refused the batch), `undelivered` (the backend
/// did not take the batch within the retries), `shutdown` (still queued
/// when the flush deadline passed) or `queue_full` (refused to the bot with
/// a 503: never accepted).
pub static EVENTS_FORWARDED: LazyLock<CounterVec> = LazyLock::new(|| {
    telemetry::metrics::counter_vec(
        "events_forwarded_total",
        "Events received from the bot, by type and outcome",
        &["type", "outcome"],
    )
});

/// Pauses between the attempts of one batch while the backend is down,
/// slow or failing (about 4 s in all, besides the attempts themselves).
/// Every attempt carries the batch's key, so retrying is safe whether or
/// not an earlier attempt was committed.
const RETRY_BACKOFF: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EventQueue {
    sender: mpsc::Sender<Event>,
}

impl EventQueue {
    /// Queues every event or none (503 when the queue lacks room for all, or
    /// no longer takes events because shutdown has begun).
    pub fn try_enqueue(&self, events: Vec<Event>) -> Result<usize, GatewayError> {
        let count = events.len();
        let Ok(permits) = self.sender.try_reserve_many(count) else {
            count_all(&events, "queue_full");
            return Err(GatewayError::QueueFull);
        };
        for (permit, event) in permits.zip(events) {
            permit.send(event);
        }
        Ok(count)
    }
}

/// The batching task's handle: [`Flusher::shutdown`] delivers what is
/// queued within a deadline.
pub struct Flusher {
    closer: Closer,
    task: JoinHandle<()>,
}

impl Flusher {
    /// Stops taking events, delivers the queued ones and returns; events not
    /// delivered `within` are counted (`shutdown`) and logged with their number.
    pub async fn shutdown(mut self, within: Duration) {
        self.closer.close(within);
        // The task gives up at the deadline by itself; the margin only
        // guards against a bug keeping it busy.
        if tokio::time::timeout(within + Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            tracing::error!(
                context = "Shutdown",
                "the event batcher did not stop at its deadline"
            );
        }
    }
}

/// Starts the batching task.
pub fn spawn(client: BackendClient, batching: Batching) -> (EventQueue, Flusher) {
    let (sender, receiver, closer) = batching::channel(BatchConfig {
        capacity: batching.queue_capacity,
        max_batch: batching.max_batch,
        flush_interval: batching.flush_interval,
    });
    telemetry::metrics::expose_queue(&sender);
    let task = tokio::spawn(run(receiver, client));
    (EventQueue { sender }, Flusher { closer, task })
}

async fn run(mut queue: BatchReceiver<Event>, client: BackendClient) {
    while let Some(batch) = queue.next_batch().await {
        let key = uuid::Uuid::new_v4().simple().to_string();
        let body = serde_json::to_vec(&serde_json::json!({ "events": batch }))
            .map(Bytes::from)
            .unwrap_or_default();
        match queue.before_deadline(send(&client, &key, body)).await {
            Ok(result) => count_outcome(&batch, &key, result),
            Err(DeadlinePassed) => {
                let mut lost = batch;
                lost.append(&mut queue.close_and_drain());
                count_all(&lost, "shutdown");
                let events = lost.len();
                tracing::warn!(
                    context = "Shutdown",
                    events,
                    "{events} events lost: still queued at the flush deadline"
                );
                return;
            }
        }
    }
    tracing::info!(context = "Shutdown", "event queue drained");
}

/// Counts a batch the backend committed, refused or never took; a lost
/// batch is logged once, with its number of events.
fn count_outcome(batch: &[Event], key: &str, result: Result<(), BatchError>) {
    let events = batch.len();
    let outcome = match result {
        Ok(()) => "forwarded",
        Err(BatchError::Rejected(status, body)) => {
            tracing::warn!(
                context = "Events",
                status,
                body = %body,
                events,
                batch_key = key,
                "{events} events lost: the backend rejected their batch"
            );
            "rejected"
        }
        Err(BatchError::Undelivered { attempts, last }) => {
            tracing::warn!(
                context = "Events",
                error = %last,
                events,
                attempts,
                batch_key = key,
                "{events} events lost: the backend did not take their batch in {attempts} attempts"
            );
            "undelivered"
        }
    };
    count_all(batch, outcome);
}

enum BatchError {
    /// A 4xx: sending it again would not help.
    Rejected(u16, String),
    /// The backend was down, slow or failing at every attempt.
    Undelivered { attempts: usize, last: String },
}

/// Posts the batch, retrying with [`RETRY_BACKOFF`] whatever went wrong
/// except a 4xx (a 408 or 429 is the backend asking for a retry).
async fn send(client: &BackendClient, key: &str, body: Bytes) -> Result<(), BatchError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(key) {
        headers.insert(json_api::IDEMPOTENCY_KEY, value);
    }
    let mut pauses = RETRY_BACKOFF.iter();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match client
            .send(Method::POST, "/api/events", headers.clone(), body.clone())
            .await
        {
            Ok(response) if response.status.is_success() => return Ok(()),
            Ok(response) if is_final_refusal(response.status) => {
                let text = String::from_utf8_lossy(&response.body).into_owned();
                return Err(BatchError::Rejected(response.status.as_u16(), text));
            }
            Ok(response) => format!("backend answered {}", response.status),
            Err(error) => error.to_string(),
        };
        match pauses.next() {
            Some(pause) => tokio::time::sleep(*pause).await,
            None => return Err(BatchError::Undelivered { attempts, last }),
        }
    }
}

fn is_final_refusal(status: StatusCode) -> bool {
    status.is_client_error()
        && status != StatusCode::REQUEST_TIMEOUT
        && status != StatusCode::TOO_MANY_REQUESTS
}

/// Counts `events` under `outcome`, one increment per type.
fn count_all(events: &[Event], outcome: &str) {
    let mut by_type: HashMap<EventType, u64> = HashMap::new();
    for event in events {
        *by_type.entry(event.kind).or_default() += 1;
    }
    for (kind, count) in by_type {
        EVENTS_FORWARDED
            .with_label_values(&[kind.as_str(), outcome])
            .inc_by(count);
    }
}
