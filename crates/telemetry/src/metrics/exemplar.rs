//! The exemplar of an observation: the trace it belongs to, when that trace
//! is sampled (an unsampled trace never reaches Tempo, so a link to it
//! would lead nowhere).

use opentelemetry::trace::TraceContextExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// `{trace_id="<32 hex>"}`, the label Grafana's
/// `exemplarTraceIdDestinations` looks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: String,
}

/// The current span's trace, if it is sampled.
pub fn sampled_trace_exemplar() -> Option<TraceExemplar> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    (span_context.is_valid() && span_context.is_sampled()).then(|| TraceExemplar {
        trace_id: span_context.trace_id().to_string(),
    })
}
