//! W3C Trace Context and Baggage on HTTP headers.
//!
//! The global propagator (set by [`install_propagator`]) reads and writes
//! `traceparent`, `tracestate` and `baggage`. A malformed header is ignored
//! by the propagator: the context comes back empty and a new trace starts.

use opentelemetry::propagation::Injector;
use opentelemetry::{
    Context,
    propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator as _},
    trace::TraceContextExt as _,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

/// Sets the process-wide propagator: W3C Trace Context, then Baggage.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// The remote context (parent span, baggage) carried by `headers`; empty
/// when absent or malformed.
pub fn extract(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&StrictExtractor(HeaderExtractor(headers)))
    })
}

/// Hides a `traceparent` that is not exactly the W3C format. The SDK's
/// parser is lenient (it accepts a 30-digit trace id, left-padded): an id
/// we would then propagate is not the caller's, so such a header is
/// treated as absent and a new trace starts.
struct StrictExtractor<'a>(HeaderExtractor<'a>);

impl Extractor for StrictExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self.0.get(key)?;
        if key.eq_ignore_ascii_case(TRACEPARENT) && !is_w3c_traceparent(value) {
            return None;
        }
        Some(value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

const TRACEPARENT: &str = "traceparent";

/// `version-traceid-spanid-flags`: 2, 32, 16 and 2 lowercase hex digits;
/// version `ff` is invalid; version `00` has exactly four fields (later
/// versions may append more).
fn is_w3c_traceparent(value: &str) -> bool {
    let is_hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let parts: Vec<&str> = value.trim().split('-').collect();
    match parts.as_slice() {
        [version, trace_id, span_id, flags, rest @ ..] => {
            is_hex(version, 2)
                && *version != "ff"
                && (*version != "00" || rest.is_empty())
                && is_hex(trace_id, 32)
                && is_hex(span_id, 16)
                && is_hex(flags, 2)
        }
        _ => false,
    }
}

/// Writes `cx` into `headers` (`traceparent`, `tracestate`, `baggage`).
pub fn inject(cx: &Context, headers: &mut http::HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut NonEmpty(HeaderInjector(headers)));
    });
}

/// Writes only `traceparent` (and `tracestate`) for `cx`: what a response
/// tells the caller. Baggage stays inside the system.
pub fn inject_trace_context(cx: &Context, headers: &mut http::HeaderMap) {
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(cx, &mut NonEmpty(HeaderInjector(headers)));
    }
}

/// Leaves out empty values: the propagators write an empty `tracestate`
/// when there is none, and W3C Trace Context asks not to send it then.
struct NonEmpty<I>(I);

impl<I: Injector> Injector for NonEmpty<I> {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.set(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_round_trips() {
        install_propagator();
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", PARENT.parse().unwrap());
        let cx = extract(&headers);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let mut out = http::HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(out["traceparent"], PARENT);
        assert!(
            !out.contains_key("tracestate"),
            "no empty tracestate: {out:?}"
        );
    }

    #[test]
    fn malformed_traceparent_gives_an_empty_context() {
        install_propagator();
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", bad.parse().unwrap());
            assert!(!extract(&headers).span().span_context().is_valid(), "{bad}");
        }
    }
}
