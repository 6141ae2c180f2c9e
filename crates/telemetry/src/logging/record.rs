//! One event, captured once: its fields (redacted, in their JSON types), the
//! fields of its enclosing spans, its context and trace ids. Every output
//! renders from a [`Record`], so they cannot disagree on what is redacted.

use std::{fmt::Write as _, time::SystemTime};

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
    span,
};
use tracing_log::NormalizeEvent;

use crate::secrets::sanitize_urls_in;
use tracing_subscriber::{layer::Context, registry::LookupSpan};

use super::{
    redact::{REDACTED, Redactor, Treatment},
    trace_ids::{DispatchCell, TraceIds, trace_ids},
};

/// A field value, keeping its JSON type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// Fields of a span, captured when it is created or recorded, stored in the
/// span's extensions.
#[derive(Debug, Default)]
pub(crate) struct SpanFields(pub(crate) Vec<(&'static str, FieldValue)>);

impl SpanFields {
    fn set(&mut self, key: &'static str, value: FieldValue) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

/// An event ready to render.
#[derive(Debug)]
pub struct Record {
    pub time: SystemTime,
    pub level: Level,
    pub message: String,
    /// The `context` field, else the innermost span's name, else the last
    /// segment of the target.
    pub context: String,
    /// Event fields, then the enclosing spans' (innermost first), each name once.
    pub fields: Vec<(&'static str, FieldValue)>,
    pub trace: Option<TraceIds>,
}

impl Record {
    /// Captures `event` as seen from `ctx`.
    pub(crate) fn capture<S>(
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        redactor: &Redactor,
        dispatch: &DispatchCell,
    ) -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut capture = Capture::new(redactor);
        event.record(&mut capture);

        let span = ctx.event_span(event);
        // Trace ids first: reading them may lock the span's extensions.
        let trace = span
            .as_ref()
            .and_then(|span| dispatch.get().and_then(|d| trace_ids(span, &d)));
        let mut context = capture.context.take();
        if let Some(span) = span {
            if context.is_none() {
                context = Some(span.name().to_owned());
            }
            for ancestor in span.scope() {
                let extensions = ancestor.extensions();
                let Some(fields) = extensions.get::<SpanFields>() else {
                    continue;
                };
                for (key, value) in &fields.0 {
                    if !capture.fields.iter().any(|(k, _)| k == key) {
                        capture.fields.push((key, value.clone()));
                    }
                }
            }
        }
        let context = context.unwrap_or_else(|| {
            let target = metadata.target();
            target.rsplit("::").next().unwrap_or(target).to_owned()
        });
        Self {
            time: SystemTime::now(),
            level: *metadata.level(),
            message: capture.message,
            context,
            fields: capture.fields,
            trace,
        }
    }
}

/// Stores a new span's fields in its extensions (once per span, whichever
/// formatter layer sees it first).
pub(crate) fn on_new_span<S>(
    attrs: &span::Attributes<'_>,
    id: &span::Id,
    ctx: &Context<'_, S>,
    redactor: &Redactor,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let mut extensions = span.extensions_mut();
    if extensions.get_mut::<SpanFields>().is_some() {
        return;
    }
    let mut capture = Capture::new(redactor);
    attrs.record(&mut capture);
    extensions.insert(SpanFields(capture.fields));
}

/// Applies `span.record(...)` to the stored fields (idempotent, so two
/// formatter layers may both apply it).
pub(crate) fn on_record<S>(
    id: &span::Id,
    values: &span::Record<'_>,
    ctx: &Context<'_, S>,
    redactor: &Redactor,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let mut capture = Capture::new(redactor);
    values.record(&mut capture);
    let mut extensions = span.extensions_mut();
    match extensions.get_mut::<SpanFields>() {
        Some(fields) => {
            for (key, value) in capture.fields {
                fields.set(key, value);
            }
        }
        None => extensions.insert(SpanFields(capture.fields)),
    }
}

/// Visits fields: `message` and `context` apart, `log.*` (from the `log`
/// bridge) and `otel.*` (OpenTelemetry directives) skipped, sensitive names redacted, JSON-valued strings scrubbed.
struct Capture<'r> {
    redactor: &'r Redactor,
    message: String,
    context: Option<String>,
    fields: Vec<(&'static str, FieldValue)>,
}

impl<'r> Capture<'r> {
    fn new(redactor: &'r Redactor) -> Self {
        Self {
            redactor,
            message: String::new(),
            context: None,
            fields: Vec::with_capacity(8),
        }
    }

    fn push(&mut self, field: &Field, value: FieldValue) {
        let name = field.name();
        // `log.*`: the `log` bridge's metadata; `otel.*`: instructions to
        // the OpenTelemetry layer (span name, kind, status), not data.
        if name.starts_with("log.") || name.starts_with("otel.") {
            return;
        }
        let value = match (self.redactor.treatment(name), value) {
            (Treatment::Keep, value) => value,
            (treatment, FieldValue::Str(text)) => {
                FieldValue::Str(Redactor::replace_text(treatment, &text).unwrap_or(text))
            }
            // A number or flag under a sensitive name: nothing to keep.
            (_, _) => FieldValue::Str(REDACTED.to_owned()),
        };
        self.fields.push((name, value));
    }

    fn push_text(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = sanitize_urls_in(&text).unwrap_or(text),
            "context" => self.context = Some(text),
            _ => {
                let text = self.redactor.redact_json_text(&text).unwrap_or(text);
                let text = sanitize_urls_in(&text).unwrap_or(text);
                self.push(field, FieldValue::Str(text));
            }
        }
    }
}

impl Visit for Capture<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.push_text(field, text);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push_text(field, value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.push(field, FieldValue::I64(v)),
            Err(_) => self.push_text(field, value.to_string()),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.push(field, FieldValue::U64(v)),
            Err(_) => self.push_text(field, value.to_string()),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
}

/// Level names as written in every output (lowercase, like the guide's).
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}
