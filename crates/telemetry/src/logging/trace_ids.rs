//! Trace and span ids of the span an event happens in, for the log outputs.
//!
//! tracing-opentelemetry 0.34 keeps its per-span data (`OtelData`) private;
//! its public way in is [`tracing_opentelemetry::get_otel_context`], which
//! needs the span id and the dispatcher the OpenTelemetry layer lives in. The
//! formatter layers capture that dispatcher in `on_register_dispatch`.

use opentelemetry::trace::TraceContextExt;
use tracing::{Dispatch, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// Hex ids as W3C trace context writes them (32 and 16 lowercase chars),
/// kept inline: every log line carries them, and the Loki entry copies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    trace_id: [u8; 32],
    span_id: [u8; 16],
}

impl TraceIds {
    /// The ids of a valid span context.
    pub(crate) fn of(span_context: &opentelemetry::trace::SpanContext) -> Option<Self> {
        span_context.is_valid().then(|| Self {
            trace_id: hex(span_context.trace_id().to_bytes()),
            span_id: hex(span_context.span_id().to_bytes()),
        })
    }

    /// Ids from their hex form; `None` unless 32 and 16 lowercase hex digits.
    pub fn from_hex(trace_id: &str, span_id: &str) -> Option<Self> {
        let lower_hex = |text: &str| text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (lower_hex(trace_id) && lower_hex(span_id))
            .then(|| {
                Some(Self {
                    trace_id: trace_id.as_bytes().try_into().ok()?,
                    span_id: span_id.as_bytes().try_into().ok()?,
                })
            })
            .flatten()
    }

    pub fn trace_id(&self) -> &str {
        ascii(&self.trace_id)
    }

    pub fn span_id(&self) -> &str {
        ascii(&self.span_id)
    }

    /// The short form for the pretty console: the first 8 hex chars.
    pub fn short_trace_id(&self) -> &str {
        ascii(&self.trace_id[..8])
    }
}

/// Lowercase hex of `bytes` (`N` is twice their length).
fn hex<const B: usize, const N: usize>(bytes: [u8; B]) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; N];
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    out
}

/// Only ever hex digits (see the constructors), so always valid UTF-8.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
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
    // An unsampled span keeps its ids itself (see `trace::head`).
    if let Some(ids) = crate::trace::head::with_unsampled(span, TraceIds::of) {
        return ids;
    }
    let context = tracing_opentelemetry::get_otel_context(&span.id(), dispatch)?;
    TraceIds::of(context.span().span_context())
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
