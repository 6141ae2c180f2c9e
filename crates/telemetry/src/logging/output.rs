//! The output layer: every event is captured (fields redacted, span fields
//! and trace ids gathered) once into a [`Record`], then rendered for each
//! sink: the console (pretty or JSON, one line per event, to any
//! [`MakeWriter`]) and Loki (the JSON line). When the console writes JSON
//! too, the line is rendered once and serves both.

use std::{cell::RefCell, io::Write as _, sync::Arc};

use tracing::{Event, Subscriber, span};
use tracing_subscriber::{Layer, fmt::MakeWriter, layer::Context, registry::LookupSpan};

use super::{
    console::ConsoleStyle,
    format::{ServiceMeta, render_json},
    loki::LokiSink,
    record::{self, Record},
    redact::Redactor,
    trace_ids::DispatchCell,
};

/// The writer type of an output without a console (Loki only).
pub type NoConsole = fn() -> std::io::Sink;

/// Captures each event once and writes it to the console and/or Loki.
pub struct OutputLayer<W = NoConsole> {
    console: Option<(W, ConsoleStyle)>,
    loki: Option<LokiSink>,
    meta: Arc<ServiceMeta>,
    redactor: Redactor,
    dispatch: DispatchCell,
}

/// The console alone: what tests and tools compose by hand.
pub type ConsoleLayer<W> = OutputLayer<W>;

impl<W> OutputLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    /// An output writing every event to the console in `style`.
    pub fn new(
        make_writer: W,
        style: ConsoleStyle,
        meta: Arc<ServiceMeta>,
        redactor: Redactor,
    ) -> Self {
        Self {
            console: Some((make_writer, style)),
            loki: None,
            meta,
            redactor,
            dispatch: DispatchCell::default(),
        }
    }

    /// Also queues every event's JSON line for Loki.
    pub(crate) fn with_loki(mut self, loki: LokiSink) -> Self {
        self.loki = Some(loki);
        self
    }
}

impl OutputLayer<NoConsole> {
    /// An output feeding Loki only.
    pub(crate) fn loki_only(loki: LokiSink, meta: Arc<ServiceMeta>, redactor: Redactor) -> Self {
        Self {
            console: None,
            loki: Some(loki),
            meta,
            redactor,
            dispatch: DispatchCell::default(),
        }
    }
}

impl<S, W> Layer<S> for OutputLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.dispatch.register(subscriber);
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        record::on_new_span(attrs, id, &ctx, &self.redactor);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        record::on_record(id, values, &ctx, &self.redactor);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let loki = self
            .loki
            .as_ref()
            .filter(|loki| loki.wants(event.metadata()));
        if self.console.is_none() && loki.is_none() {
            return;
        }
        let record = Record::capture(event, &ctx, &self.redactor, &self.dispatch);
        // Rendered into this thread's buffer: no allocation, and no growing
        // copies, per line. Loki takes a copy of exactly the line's size.
        let reused = LINE.try_with(|buffer| {
            // Re-entered (an output's writer logging): a buffer of its own.
            let Ok(mut line) = buffer.try_borrow_mut() else {
                return false;
            };
            line.clear();
            self.write(event, &record, loki, &mut line);
            if line.capacity() > MAX_KEPT_LINE_CAPACITY {
                *line = String::new();
            }
            true
        });
        // Also when the thread's locals are being torn down.
        if !matches!(reused, Ok(true)) {
            self.write(event, &record, loki, &mut String::new());
        }
    }
}

thread_local! {
    /// The line being rendered on this thread, reused from event to event.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A buffer grown past this by one huge line is not kept for the next.
const MAX_KEPT_LINE_CAPACITY: usize = 64 * 1024;

impl<W> OutputLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    /// Renders `record` into `line` for the console, then for Loki (the
    /// console's JSON line serves both).
    fn write(
        &self,
        event: &Event<'_>,
        record: &Record,
        loki: Option<&LokiSink>,
        line: &mut String,
    ) {
        let mut json_rendered = false;
        if let Some((make_writer, style)) = &self.console {
            style.render_into(record, &self.meta, line);
            // One write per line so concurrent lines never interleave.
            let _ = make_writer
                .make_writer_for(event.metadata())
                .write_all(line.as_bytes());
            if *style == ConsoleStyle::Json {
                line.pop(); // the newline
                json_rendered = true;
            }
        }
        if let Some(loki) = loki {
            if !json_rendered {
                line.clear();
                render_json(record, &self.meta, line);
            }
            loki.queue(record, line.as_str(), &self.meta);
        }
    }
}
