//! The exemplar of an observation: the trace it belongs to, when that trace
//! is sampled (an unsampled trace never reaches Tempo, so a link to it
//! would lead nowhere).

use opentelemetry::trace::TraceContextExt as _;
use prometheus_client::encoding::EncodeLabelSet;

/// `{trace_id="<32 hex>"}`, the label Grafana's
/// `exemplarTraceIdDestinations` looks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: String,
}

/// The current span's trace, if it is sampled. Reads the current span's id
/// without taking a handle to it (a clone and a close through every layer).
pub fn sampled_trace_exemplar() -> Option<TraceExemplar> {
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let id = current.id()?;
        // An unsampled span has no OpenTelemetry data to look up.
        if crate::trace::head::is_unsampled_id(id, dispatch) {
            return None;
        }
        let context = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        let otel_span = context.span();
        let span_context = otel_span.span_context();
        (span_context.is_valid() && span_context.is_sampled()).then(|| TraceExemplar {
            trace_id: span_context.trace_id().to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::metrics::{Format, encode_as, histogram};

    /// Observes `value` inside a span of a tracer with `sampler`.
    fn observe_in_span(
        sampler: Sampler,
        histogram: &crate::metrics::Histogram,
        value: f64,
    ) -> Option<String> {
        let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            histogram.observe(value);
            sampled_trace_exemplar().map(|exemplar| exemplar.trace_id)
        })
    }

    #[test]
    fn only_a_sampled_trace_becomes_an_exemplar() {
        let sampled = histogram("exemplar_test_sampled_seconds", "test", &[1.0]);
        let trace_id = observe_in_span(Sampler::AlwaysOn, &sampled, 0.5).unwrap_or_default();
        assert_eq!(trace_id.len(), 32);
        let unsampled = histogram("exemplar_test_unsampled_seconds", "test", &[1.0]);
        assert_eq!(observe_in_span(Sampler::AlwaysOff, &unsampled, 0.5), None);
        // Outside any span: no exemplar either.
        unsampled.observe(0.25);

        let text = encode_as(Format::OpenMetrics).unwrap_or_default();
        let line = |name: &str| {
            text.lines()
                .find(|line| line.starts_with(name) && line.contains("le=\"1.0\""))
                .unwrap_or_default()
                .to_owned()
        };
        let expected = format!("# {{trace_id=\"{trace_id}\"}} 0.5");
        assert!(
            line("exemplar_test_sampled_seconds_bucket").ends_with(&expected),
            "{text}"
        );
        let unsampled_bucket = line("exemplar_test_unsampled_seconds_bucket");
        assert!(!unsampled_bucket.is_empty(), "{text}");
        assert!(!unsampled_bucket.contains('#'), "{text}");
        // The classic format has no exemplars.
        assert!(
            !encode_as(Format::Classic)
                .unwrap_or_default()
                .contains("trace_id")
        );
    }
}
