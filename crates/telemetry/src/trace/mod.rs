//! Distributed tracing: the OpenTelemetry tracer provider joined to the
//! `tracing` subscriber, W3C Trace Context propagation in and out, and the
//! self-metrics of span export.
//!
//! - [`provider`]: resource, sampler, bounded OTLP export (none without an
//!   endpoint: ids still exist for propagation and logs).
//! - [`layer()`]: the inbound tower layer (server span, `traceparent` in,
//!   `traceparent` out).
//! - [`HttpClient`]: the outbound client (client span, headers injected).
//! - [`spans`]: database and Discord spans with conventional attributes.
//!
//! Named `trace`, not `tracing`, so the `tracing` crate stays unshadowed.

pub mod client;
pub mod config;
pub mod export;
pub mod head;
pub mod layer;
pub mod limits;
pub mod metrics;
pub mod propagation;
pub mod provider;
pub mod scrub;
pub mod spans;

use std::{sync::Arc, time::Duration};

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::{Layer, Registry, filter::Filtered, layer::Layered, registry::LookupSpan};

pub use client::HttpClient;
pub use config::{OtlpProtocol, TraceConfig};
pub use export::SpanQueue;
pub use head::{HeadSampler, UnsampledIds, context_of, with_remote_parent};

/// What [`Tracing::layer`] returns: the OpenTelemetry layer behind the head
/// sampler, and the ids of the spans it does not sample.
pub type SampledSpansLayer<S> =
    Layered<UnsampledIds, Filtered<OpenTelemetryLayer<S, SdkTracer>, HeadSampler, S>, S>;
pub use layer::{HttpTrace, HttpTraceLayer, layer};
pub use provider::{ProviderSettings, TraceInitError};

use crate::{ServiceInfo, config::TelemetryConfig};

/// What [`Tracing::shutdown`] waits beyond `OTEL_SHUTDOWN_TIMEOUT`: the
/// blocking call is bounded by it, the margin covers the thread hand-off.
pub const SHUTDOWN_MARGIN: Duration = Duration::from_secs(1);

/// Owns the tracer provider; [`Tracing::shutdown`] flushes it.
#[must_use = "dropping the guard without calling shutdown() may lose buffered spans"]
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
    /// The configured sampler, applied by [`HeadSampled`] when a span is
    /// created; the provider itself samples everything it is given.
    sampler: Sampler,
    queue: Option<Arc<SpanQueue>>,
    shutdown_timeout: Duration,
}

impl Tracing {
    /// Builds the provider without touching any global: for tests that run
    /// several services in one process, each with its own subscriber.
    pub fn build(settings: &ProviderSettings<'_>) -> Result<Self, TraceInitError> {
        let built = provider::build(settings)?;
        Ok(Self {
            provider: built.provider,
            sampler: provider::sampler(settings.config.sampler),
            queue: built.queue,
            shutdown_timeout: settings.config.shutdown_timeout,
        })
    }

    /// The `tracing` layer that turns sampled spans into OpenTelemetry spans.
    ///
    /// The sampler decides when a span is created ([`head`]): an unsampled
    /// span builds no OpenTelemetry data and keeps only its ids. Log events
    /// stay log lines (they carry the trace id, and Grafana links the two)
    /// instead of being copied into every span as span events. Per span it records the span's own
    /// fields and nothing else: no source location, thread or target
    /// attributes (nobody queries them; each costs an allocation per
    /// span), no busy/idle timings. The OpenTelemetry context is not
    /// attached on every poll of an instrumented future: nothing in the
    /// services reads `Context::current()`; the ids come from the span
    /// itself.
    pub fn layer<S>(&self) -> SampledSpansLayer<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let spans = tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(env!("CARGO_PKG_NAME")))
            .with_tracked_inactivity(false)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_context_activation(false);
        spans
            .with_filter(HeadSampler::new(self.sampler.clone()))
            .and_then(UnsampledIds)
    }

    /// [`Tracing::layer`] boxed for the registry the logging pipeline builds.
    pub fn boxed_layer(&self) -> Box<dyn Layer<Registry> + Send + Sync> {
        Box::new(self.layer::<Registry>())
    }

    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// The export queue; `None` when no endpoint is configured.
    pub fn queue(&self) -> Option<Arc<SpanQueue>> {
        self.queue.clone()
    }

    /// Exports what is queued and stops, waiting at most the configured
    /// `OTEL_SHUTDOWN_TIMEOUT`. Runs on a blocking thread: the SDK's shutdown
    /// blocks, and the export it waits for runs on this runtime.
    pub async fn shutdown(self) {
        let exporting = self.queue.is_some();
        let timeout = self.shutdown_timeout;
        let provider = self.provider;
        let outcome = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout));
        match tokio::time::timeout(timeout + SHUTDOWN_MARGIN, outcome).await {
            Ok(Ok(Ok(()))) => {
                if exporting {
                    tracing::debug!(context = "Tracing", "spans flushed");
                }
            }
            Ok(Ok(Err(error))) => {
                tracing::warn!(context = "Tracing", %error, "spans not flushed at shutdown");
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    context = "Tracing",
                    timeout_ms = timeout.as_millis(),
                    "span flush did not finish in time; buffered spans are lost"
                );
            }
        }
    }
}

/// Installs the process-wide pieces (W3C propagator, global tracer provider)
/// and builds the provider for `service`.
pub fn install(service: ServiceInfo, config: &TelemetryConfig) -> Result<Tracing, TraceInitError> {
    propagation::install_propagator();
    let tracing = Tracing::build(&ProviderSettings {
        service,
        environment: config.environment,
        redactor: crate::logging::Redactor::new(&config.logging.redact_keys),
        endpoint: config.tracing.endpoint.as_deref(),
        config: &config.tracing,
    })?;
    opentelemetry::global::set_tracer_provider(tracing.provider.clone());
    Ok(tracing)
}

/// Hex ids of a span, as W3C Trace Context writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanIds {
    /// 32 lowercase hex characters.
    pub trace_id: String,
    /// 16 lowercase hex characters.
    pub span_id: String,
}

/// The ids of the current span (e.g. to quote in an error body); `None`
/// outside any span.
pub fn current_ids() -> Option<SpanIds> {
    let cx = context_of(&tracing::Span::current());
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| SpanIds {
        trace_id: span_context.trace_id().to_string(),
        span_id: span_context.span_id().to_string(),
    })
}
