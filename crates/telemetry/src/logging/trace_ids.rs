//! Trace and span ids of the span an event happens in, for the log outputs.
//!
//! tracing-opentelemetry 0.34 keeps its per-span data (`OtelData`) private;
//! its public way in is [`tracing_opentelemetry::get_otel_context`], which
//! needs the span id and the dispatcher the OpenTelemetry layer lives in. The
//! formatter layers capture that dispatcher in `on_register_dispatch`.

use opentelemetry::trace::TraceContextExt;
use tracing::{Dispatch, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// Hex ids as W3C trace context writes them (32 and 16 lowercase chars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: String,
    pub span_id: String,
}

impl TraceIds {
    /// The short form for the pretty console: the first 8 hex chars.
    pub fn short_trace_id(&self) -> &str {
        self.trace_id.get(..8).unwrap_or(&self.trace_id)
    }
}

/// The OpenTelemetry ids of `span`; `None` when no OpenTelemetry layer is
/// installed in `dispatch` or the span has no valid context.
///
/// The caller must not hold the span's extensions: the OpenTelemetry layer
/// locks them to build the span's context.
pub fn trace_ids<'a, S>(span: &SpanRef<'a, S>, dispatch: &Dispatch) -> Option<TraceIds>
where
    S: Subscriber + LookupSpan<'a>,
{
    let context = tracing_opentelemetry::get_otel_context(&span.id(), dispatch)?;
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    span_context.is_valid().then(|| TraceIds {
        trace_id: span_context.trace_id().to_string(),
        span_id: span_context.span_id().to_string(),
    })
}

/// The dispatcher a layer was registered in, for [`trace_ids`].
#[derive(Debug, Default)]
pub(crate) struct DispatchCell(std::sync::OnceLock<WeakDispatch>);

impl DispatchCell {
    pub(crate) fn register(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }

    pub(crate) fn get(&self) -> Option<Dispatch> {
        self.0.get().and_then(WeakDispatch::upgrade)
    }
}
