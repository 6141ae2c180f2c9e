//! What an exported span may hold: the logging pipeline's redaction
//! applied to its attributes and its events' attributes (the OpenTelemetry
//! layer records `tracing` fields as attributes without it), credentials
//! removed from URLs, and every string value bounded. Runs once per
//! sampled span, in the export processor; a span with nothing to hide is
//! read, not copied.

use std::mem::size_of;

use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use super::limits::{MAX_ATTRIBUTE_BYTES, truncate};
use crate::{
    logging::{REDACTED, Redactor, Treatment},
    secrets::sanitize_urls_in,
};

/// Redacts and bounds `span` in place.
pub fn scrub(span: &mut SpanData, redactor: &Redactor) {
    scrub_attributes(&mut span.attributes, redactor);
    for event in &mut span.events.events {
        scrub_attributes(&mut event.attributes, redactor);
    }
    if let opentelemetry::trace::Status::Error { description } = &mut span.status
        && let Some(clean) = clean_text(description, redactor)
    {
        *description = clean.into();
    }
}

fn scrub_attributes(attributes: &mut [KeyValue], redactor: &Redactor) {
    for attribute in attributes {
        let treatment = redactor.treatment(attribute.key.as_str());
        let replacement = match (&attribute.value, treatment) {
            (Value::String(text), Treatment::Keep) => clean_text(text.as_str(), redactor),
            (Value::Array(Array::String(items)), Treatment::Keep) => {
                let cleaned: Vec<Option<String>> = items
                    .iter()
                    .map(|item| clean_text(item.as_str(), redactor))
                    .collect();
                if cleaned.iter().any(Option::is_some) {
                    let items = items
                        .iter()
                        .zip(cleaned)
                        .map(|(item, clean)| clean.map_or_else(|| item.clone(), Into::into))
                        .collect();
                    attribute.value = Value::Array(Array::String(items));
                }
                None
            }
            (_, Treatment::Keep) => None,
            (Value::String(text), treatment) => Redactor::replace_text(treatment, text.as_str()),
            // A number, flag or list under a sensitive name: nothing to keep.
            (_, _) => Some(REDACTED.to_owned()),
        };
        if let Some(replacement) = replacement {
            attribute.value = Value::from(replacement);
        }
    }
}

/// `text` with sensitive JSON keys and URL credentials hidden and cut to
/// [`MAX_ATTRIBUTE_BYTES`]; `None` when it is fine as it is.
fn clean_text(text: &str, redactor: &Redactor) -> Option<String> {
    let redacted = redactor.redact_json_text(text);
    let current = redacted.as_deref().unwrap_or(text);
    let sanitized = sanitize_urls_in(current).or(redacted);
    let current = sanitized.as_deref().unwrap_or(text);
    if current.len() > MAX_ATTRIBUTE_BYTES {
        return Some(truncate(current, MAX_ATTRIBUTE_BYTES).into_owned());
    }
    sanitized
}

/// Bytes `span` holds while it waits for export, estimated from what
/// varies (names and string values) plus the fixed size of each part.
pub fn cost(span: &SpanData) -> usize {
    let events: usize = span
        .events
        .iter()
        .map(|event| {
            size_of::<opentelemetry::trace::Event>()
                + event.name.len()
                + attributes_cost(&event.attributes)
        })
        .sum();
    let links: usize = span
        .links
        .iter()
        .map(|link| size_of::<opentelemetry::trace::Link>() + attributes_cost(&link.attributes))
        .sum();
    size_of::<SpanData>() + span.name.len() + attributes_cost(&span.attributes) + events + links
}

fn attributes_cost(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|attribute| {
            size_of::<KeyValue>() + attribute.key.as_str().len() + value_cost(&attribute.value)
        })
        .sum()
}

fn value_cost(value: &Value) -> usize {
    match value {
        Value::String(text) => text.as_str().len(),
        Value::Array(Array::String(items)) => items
            .iter()
            .map(|item| size_of::<opentelemetry::StringValue>() + item.as_str().len())
            .sum(),
        Value::Array(Array::I64(items)) => items.len() * size_of::<i64>(),
        Value::Array(Array::F64(items)) => items.len() * size_of::<f64>(),
        Value::Array(Array::Bool(items)) => items.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, time::SystemTime};

    use opentelemetry::{
        InstrumentationScope,
        trace::{Event, SpanContext, SpanId, SpanKind, Status},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;
    use crate::trace::limits::TRUNCATED_MARKER;

    fn span(attributes: Vec<KeyValue>, events: Vec<Event>) -> SpanData {
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("GET /login"),
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Cow<'a, str> {
        attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str())
            .unwrap()
    }

    #[test]
    fn attributes_and_event_attributes_are_redacted_like_log_fields() {
        let mut data = span(
            vec![
                KeyValue::new("client_secret", "hunter2"),
                KeyValue::new("retries", 3_i64),
                KeyValue::new("apiKey", 42_i64),
                KeyValue::new("user.email", "ana@example.com"),
                KeyValue::new("client.address", "203.0.113.7"),
                KeyValue::new("upstream", "postgres://app:hunter2@db/app"),
                KeyValue::new("body", r#"{"password":"hunter2","user":"ana"}"#),
                KeyValue::new("user_agent.original", "u".repeat(10_000)),
            ],
            vec![Event::new(
                "token issued",
                SystemTime::now(),
                vec![KeyValue::new("refresh_token", "hunter2")],
                0,
            )],
        );
        scrub(&mut data, &Redactor::new(&["ssn".to_owned()]));
        let attributes = &data.attributes;
        assert_eq!(value(attributes, "client_secret"), REDACTED);
        assert_eq!(value(attributes, "retries"), "3");
        assert_eq!(value(attributes, "apiKey"), REDACTED);
        assert!(value(attributes, "user.email").ends_with("@example.com"));
        assert!(!value(attributes, "user.email").contains("ana"));
        assert_eq!(value(attributes, "client.address"), "203.0.113.0");
        assert_eq!(
            value(attributes, "upstream"),
            "postgres://REDACTED:REDACTED@db/app"
        );
        assert!(!value(attributes, "body").contains("hunter2"));
        let agent = value(attributes, "user_agent.original");
        assert_eq!(agent.len(), MAX_ATTRIBUTE_BYTES + TRUNCATED_MARKER.len());
        assert_eq!(
            value(&data.events.events[0].attributes, "refresh_token"),
            REDACTED
        );
    }

    #[test]
    fn cost_grows_with_what_the_span_holds() {
        let small = span(vec![KeyValue::new("k", "v")], vec![]);
        let large = span(vec![KeyValue::new("k", "v".repeat(4000))], vec![]);
        assert!(cost(&small) >= size_of::<SpanData>());
        assert_eq!(cost(&large) - cost(&small), 3999);
    }
}
