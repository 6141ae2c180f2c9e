//! The console's line styles: pretty (development) or JSON (production),
//! one line per event. The layer writing them is
//! [`OutputLayer`](super::output::OutputLayer); in services the lines go
//! through the [`ConsoleBuffer`](super::console_buffer::ConsoleBuffer).

use super::{
    format::{ServiceMeta, render_json, render_pretty},
    record::Record,
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
        self.render_into(record, meta, &mut line);
        line
    }

    /// Appends the line of `record` to `line`, newline included.
    pub fn render_into(self, record: &Record, meta: &ServiceMeta, line: &mut String) {
        match self {
            Self::Pretty { color } => render_pretty(record, meta, color, line),
            Self::Json => render_json(record, meta, line),
        }
        line.push('\n');
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
