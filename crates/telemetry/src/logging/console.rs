//! The console layer: pretty (development) or JSON (production), one line
//! per event, to any [`MakeWriter`] (stdout in services, a buffer in tests).

use std::{io::Write as _, sync::Arc};

use tracing::{Event, Subscriber, span};
use tracing_subscriber::{Layer, fmt::MakeWriter, layer::Context, registry::LookupSpan};

use super::{
    format::{ServiceMeta, render_json, render_pretty},
    record::{self, Record},
    redact::Redactor,
    trace_ids::DispatchCell,
};

/// How console lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleStyle {
    Pretty { color: bool },
    Json,
}

impl ConsoleStyle {
    /// Renders `record` as one line, newline included.
    pub fn render(self, record: &Record, meta: &ServiceMeta) -> String {
        let mut line = String::with_capacity(256);
        match self {
            Self::Pretty { color } => render_pretty(record, meta, color, &mut line),
            Self::Json => render_json(record, meta, &mut line),
        }
        line.push('\n');
        line
    }
}

/// Colour decision for the pretty console: `NO_COLOR` (any non-empty value)
/// wins, then `FORCE_COLOR`, then whether stdout is a terminal.
pub fn color_from_env(stdout_is_terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        false
    } else if set("FORCE_COLOR") {
        std::env::var("FORCE_COLOR").map_or(true, |v| v != "0" && v != "false")
    } else {
        stdout_is_terminal
    }
}

/// Writes every event to the console in `style`.
pub struct ConsoleLayer<W> {
    make_writer: W,
    style: ConsoleStyle,
    meta: Arc<ServiceMeta>,
    redactor: Redactor,
    dispatch: DispatchCell,
}

impl<W> ConsoleLayer<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    pub fn new(
        make_writer: W,
        style: ConsoleStyle,
        meta: Arc<ServiceMeta>,
        redactor: Redactor,
    ) -> Self {
        Self {
            make_writer,
            style,
            meta,
            redactor,
            dispatch: DispatchCell::default(),
        }
    }
}

impl<S, W> Layer<S> for ConsoleLayer<W>
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
        let record = Record::capture(event, &ctx, &self.redactor, &self.dispatch);
        let line = self.style.render(&record, &self.meta);
        // One write per line so concurrent lines never interleave; a console
        // that cannot be written to has nowhere to report it.
        let _ = self
            .make_writer
            .make_writer_for(event.metadata())
            .write_all(line.as_bytes());
    }
}
