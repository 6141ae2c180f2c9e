//! One event, captured once: its fields (redacted, in their JSON types), the
//! fields of its enclosing spans, its context and trace ids. Every output
//! renders from a [`Record`], so they cannot disagree on what is redacted.

use std::{borrow::Cow, fmt::Write as _, sync::Arc, time::SystemTime};

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
    /// A span's text field: every event in the span carries it, so it is
    /// shared rather than copied per event.
    Shared(SharedText),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// Fields of a span, captured when it is created or recorded, stored in the
/// span's extensions.
#[derive(Debug, Default)]
pub(crate) struct SpanFields(pub(crate) Vec<(&'static str, FieldValue)>);

impl FieldValue {
    /// The text of a string value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Str(text) => Some(text),
            Self::Shared(text) => Some(text.as_str()),
            _ => None,
        }
    }
}

/// What a span's text buffer starts with.
const SPAN_TEXT_CAPACITY: usize = 256;

/// One text field of a span: a range of the one buffer that holds all the
/// span's text (one allocation per span, not one per field).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedText {
    /// `None` only while the span's fields are being captured.
    buffer: Option<Arc<str>>,
    start: usize,
    end: usize,
}

impl SharedText {
    pub fn as_str(&self) -> &str {
        self.buffer
            .as_deref()
            .and_then(|buffer| buffer.get(self.start..self.end))
            .unwrap_or_default()
    }
}

impl SpanFields {
    fn set(&mut self, key: &'static str, value: FieldValue) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

/// An event ready to render.
#[derive(Debug, Clone)]
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
    let mut capture = Capture::for_span(redactor);
    // Room for the fields recorded later too (status, error).
    capture
        .fields
        .reserve_exact(attrs.metadata().fields().len());
    attrs.record(&mut capture);
    extensions.insert(SpanFields(capture.into_span_fields()));
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
    let mut capture = Capture::for_span(redactor);
    values.record(&mut capture);
    let recorded = capture.into_span_fields();
    let mut extensions = span.extensions_mut();
    match extensions.get_mut::<SpanFields>() {
        Some(fields) => {
            for (key, value) in recorded {
                fields.set(key, value);
            }
        }
        None => extensions.insert(SpanFields(recorded)),
    }
}

/// Visits fields: `message` and `context` apart, `log.*` (from the `log`
/// bridge) and `otel.*` (OpenTelemetry directives) skipped, sensitive names redacted, JSON-valued strings scrubbed.
struct Capture<'r> {
    redactor: &'r Redactor,
    /// Span fields: kept text is appended here and stored as
    /// [`FieldValue::Shared`] ranges of it (see [`Capture::into_span_fields`]).
    span_text: Option<String>,
    message: String,
    context: Option<String>,
    fields: Vec<(&'static str, FieldValue)>,
}

impl<'r> Capture<'r> {
    fn new(redactor: &'r Redactor) -> Self {
        Self {
            redactor,
            span_text: None,
            message: String::new(),
            context: None,
            // An event's own fields, then its spans' (a request's line has
            // about fifteen): room for them at once, not by doubling.
            fields: Vec::with_capacity(16),
        }
    }

    /// For spans: text gathered into one buffer.
    fn for_span(redactor: &'r Redactor) -> Self {
        Self {
            redactor,
            span_text: Some(String::new()),
            message: String::new(),
            context: None,
            fields: Vec::new(),
        }
    }

    /// The fields of a span capture, their shared text in one allocation.
    fn into_span_fields(self) -> Vec<(&'static str, FieldValue)> {
        let mut fields = self.fields;
        let Some(text) = self.span_text.filter(|text| !text.is_empty()) else {
            return fields;
        };
        let buffer: Arc<str> = Arc::from(text);
        for (_, value) in &mut fields {
            if let FieldValue::Shared(shared) = value {
                shared.buffer = Some(Arc::clone(&buffer));
            }
        }
        fields
    }

    fn push(&mut self, field: &Field, value: FieldValue) {
        let name = field.name();
        if is_directive(name) {
            return;
        }
        let treatment = self.redactor.treatment_of_field(name);
        self.push_treated(name, treatment, value);
    }

    /// Pushes `value` under `name`, replaced as `treatment` says.
    fn push_treated(&mut self, name: &'static str, treatment: Treatment, value: FieldValue) {
        let value = match treatment {
            Treatment::Keep => value,
            treatment => match value.as_text() {
                Some(text) => FieldValue::Str(
                    Redactor::replace_text(treatment, text).unwrap_or_else(|| text.to_owned()),
                ),
                // A number or flag under a sensitive name: nothing to keep.
                None => FieldValue::Str(REDACTED.to_owned()),
            },
        };
        self.fields.push((name, value));
    }

    /// Text is copied once, when it is kept: redaction and URL scrubbing
    /// look at the borrowed value and allocate only when they change it.
    fn push_text(&mut self, field: &Field, text: Cow<'_, str>) {
        match field.name() {
            "message" => {
                self.message = sanitize_urls_in(&text).unwrap_or_else(|| text.into_owned());
            }
            "context" => self.context = Some(text.into_owned()),
            name if is_directive(name) => {}
            name => {
                let text = match self.redactor.redact_json_text(&text) {
                    Some(redacted) => Cow::Owned(redacted),
                    None => text,
                };
                let text = match sanitize_urls_in(&text) {
                    Some(sanitized) => Cow::Owned(sanitized),
                    None => text,
                };
                let treatment = self.redactor.treatment_of_field(name);
                let value = match &mut self.span_text {
                    // Redacted text is replaced by `push_treated`: only kept
                    // text goes into the span's buffer.
                    Some(buffer) if treatment == Treatment::Keep => {
                        // A server span's text is a few hundred bytes: one
                        // allocation at the first text field, none after.
                        if buffer.capacity() == 0 {
                            buffer.reserve(SPAN_TEXT_CAPACITY.max(text.len()));
                        }
                        let start = buffer.len();
                        buffer.push_str(&text);
                        FieldValue::Shared(SharedText {
                            buffer: None,
                            start,
                            end: buffer.len(),
                        })
                    }
                    _ => FieldValue::Str(text.into_owned()),
                };
                self.push_treated(name, treatment, value);
            }
        }
    }
}

/// `log.*`: the `log` bridge's metadata; `otel.*`: instructions to the
/// OpenTelemetry layer (span name, kind, status), not data. Skipped before
/// their value is formatted.
fn is_directive(name: &str) -> bool {
    name.starts_with("log.") || name.starts_with("otel.")
}

impl Visit for Capture<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_text(field, Cow::Borrowed(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if is_directive(field.name()) {
            return;
        }
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.push_text(field, Cow::Owned(text));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push_text(field, Cow::Owned(value.to_string()));
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
            Err(_) => self.push_text(field, Cow::Owned(value.to_string())),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.push(field, FieldValue::U64(v)),
            Err(_) => self.push_text(field, Cow::Owned(value.to_string())),
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
