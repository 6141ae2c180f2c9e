//! The export path: a bounded queue in front of the SDK's batch processor,
//! and an exporter wrapper that runs the OTLP client on the service's Tokio
//! runtime and counts what reached the collector.
//!
//! Why not the bare `BatchSpanProcessor`: it drops spans when its queue is
//! full but keeps the count private, and it drives the exporter from its own
//! thread with a plain executor, where the async HTTP/gRPC clients have no
//! reactor. The gate below owns the drop decision (so every drop is counted)
//! and the wrapper hands each export to the runtime.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use opentelemetry::{Context, context::FutureExt as _};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor},
};

use super::{config::BatchSettings, metrics, scrub};
use crate::logging::Redactor;

/// Counts spans, and the bytes they hold, between "ended" and "handed to
/// the exporter". Its two capacities bound the memory the pipeline holds
/// while the collector is away: by count (`OTEL_BSP_MAX_QUEUE_SIZE`) and by
/// bytes (`OTEL_BSP_MAX_QUEUE_BYTES`), as the Loki buffer is, so a few huge
/// spans cannot hold more than the byte cap.
#[derive(Debug)]
pub struct SpanQueue {
    len: AtomicUsize,
    capacity: usize,
    bytes: AtomicUsize,
    max_bytes: usize,
}

/// Why a span was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `OTEL_BSP_MAX_QUEUE_SIZE` spans are queued (`queue_full`).
    Count,
    /// The span would take the queue over `OTEL_BSP_MAX_QUEUE_BYTES`
    /// (`queue_bytes_full`).
    Bytes,
}

impl Refused {
    /// The `reason` label of `telemetry_spans_dropped_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Count => "queue_full",
            Self::Bytes => "queue_bytes_full",
        }
    }
}

impl SpanQueue {
    pub fn new(capacity: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            len: AtomicUsize::new(0),
            capacity,
            bytes: AtomicUsize::new(0),
            max_bytes,
        })
    }

    /// Spans currently queued.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Estimated bytes of the queued spans (see `scrub::cost`).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Takes one slot and `cost` bytes, or says which cap refused.
    pub fn try_acquire(&self, cost: usize) -> Result<(), Refused> {
        let before = self.bytes.fetch_add(cost, Ordering::AcqRel);
        if before + cost > self.max_bytes {
            self.bytes.fetch_sub(cost, Ordering::AcqRel);
            return Err(Refused::Bytes);
        }
        let acquired = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                (len < self.capacity).then_some(len + 1)
            })
            .is_ok();
        if !acquired {
            self.bytes.fetch_sub(cost, Ordering::AcqRel);
            return Err(Refused::Count);
        }
        metrics::SPANS_QUEUED.inc();
        Ok(())
    }

    /// Frees `count` slots and `bytes`: those spans have left the queue.
    fn release(&self, count: usize, bytes: usize) {
        let _ = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                Some(len.saturating_sub(count))
            });
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(bytes))
            });
        metrics::SPANS_QUEUED.sub(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// A span processor that scrubs each sampled span (redaction and size
/// bounds, see [`scrub`]) and admits it into the batch processor only when
/// the [`SpanQueue`] has room, counting the others as `queue_full` or
/// `queue_bytes_full` drops.
///
/// The inner processor's own queue has the same capacity and only ever
/// holds admitted spans that the exporter has not yet taken, so it never
/// overflows: every drop happens (and is counted) here. `on_end` never
/// blocks: both the gate and the inner queue use non-blocking sends.
#[derive(Debug)]
pub struct BoundedBatchProcessor {
    inner: BatchSpanProcessor,
    queue: Arc<SpanQueue>,
    redactor: Redactor,
}

impl BoundedBatchProcessor {
    pub fn new<E>(
        exporter: E,
        settings: BatchSettings,
        redactor: Redactor,
        runtime: tokio::runtime::Handle,
    ) -> Self
    where
        E: SpanExporter + 'static,
    {
        let queue = SpanQueue::new(settings.max_queue_size, settings.max_queue_bytes);
        let exporter = RuntimeExporter {
            inner: Arc::new(exporter),
            runtime,
            queue: Arc::clone(&queue),
            timeout: settings.export_timeout,
            failing: Arc::new(AtomicBool::new(false)),
        };
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(settings.max_queue_size)
            .with_max_export_batch_size(settings.max_export_batch_size.min(settings.max_queue_size))
            .with_scheduled_delay(settings.schedule_delay)
            .build();
        Self {
            inner: BatchSpanProcessor::new(exporter, config),
            queue,
            redactor,
        }
    }

    /// The queue, to observe its length (tests, diagnostics).
    pub fn queue(&self) -> Arc<SpanQueue> {
        Arc::clone(&self.queue)
    }
}

impl SpanProcessor for BoundedBatchProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        scrub::scrub(&mut span, &self.redactor);
        match self.queue.try_acquire(scrub::cost(&span)) {
            Ok(()) => self.inner.on_end(span),
            Err(refused) => metrics::dropped(refused.reason(), 1),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Runs the wrapped exporter on the Tokio runtime and counts the outcome.
struct RuntimeExporter<E> {
    inner: Arc<E>,
    runtime: tokio::runtime::Handle,
    queue: Arc<SpanQueue>,
    timeout: Duration,
    /// Whether the last export failed: the log says so once per outage,
    /// not once per batch.
    failing: Arc<AtomicBool>,
}

impl<E> fmt::Debug for RuntimeExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeExporter")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<E> SpanExporter for RuntimeExporter<E>
where
    E: SpanExporter + 'static,
{
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let count = batch.len();
        // The spans have left the queue: from here they are the exporter's.
        // Their cost is what `on_end` charged: nothing changed them since.
        let bytes = batch.iter().map(scrub::cost).sum();
        self.queue.release(count, bytes);
        let inner = Arc::clone(&self.inner);
        let timeout = self.timeout;
        // Suppressed: nothing the export does (HTTP client spans, retries)
        // may produce spans of its own, or export would feed itself.
        let export = async move { tokio::time::timeout(timeout, inner.export(batch)).await }
            .with_context(Context::current().with_telemetry_suppressed());
        let task = self.runtime.spawn(export);
        let failing = Arc::clone(&self.failing);
        async move {
            let result = match task.await {
                Ok(Ok(result)) => result,
                Ok(Err(_elapsed)) => Err(OTelSdkError::Timeout(timeout)),
                Err(join) => Err(OTelSdkError::InternalFailure(format!(
                    "export task did not complete: {join}"
                ))),
            };
            match &result {
                Ok(()) => {
                    metrics::SPANS_EXPORTED.inc_by(u64::try_from(count).unwrap_or(u64::MAX));
                    if failing.swap(false, Ordering::Relaxed) {
                        tracing::info!(context = "Tracing", "span export recovered");
                    }
                }
                Err(error) => {
                    metrics::dropped("export_failed", count);
                    if !failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            context = "Tracing",
                            %error,
                            "span export failed; spans are dropped until the collector answers (see telemetry_spans_dropped_total)"
                        );
                    }
                }
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once while the provider is built, before any export holds
        // a clone of the exporter.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_refuses_by_bytes_and_by_count_and_frees_both() {
        let queue = SpanQueue::new(3, 1000);
        assert_eq!(queue.try_acquire(600), Ok(()));
        assert_eq!(queue.try_acquire(600), Err(Refused::Bytes));
        assert_eq!((queue.len(), queue.bytes()), (1, 600));
        assert_eq!(queue.try_acquire(100), Ok(()));
        assert_eq!(queue.try_acquire(100), Ok(()));
        assert_eq!(queue.try_acquire(100), Err(Refused::Count));
        // A refusal by count gives its bytes back.
        assert_eq!((queue.len(), queue.bytes()), (3, 800));
        queue.release(3, 800);
        assert_eq!((queue.len(), queue.bytes()), (0, 0));
        assert_eq!(queue.try_acquire(1000), Ok(()));
        assert_eq!(Refused::Bytes.reason(), "queue_bytes_full");
    }
}
