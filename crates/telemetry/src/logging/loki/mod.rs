//! Shipping log lines to Grafana Loki without ever hurting the service.
//!
//! The output layer renders each event to the JSON line (the same object
//! as the JSON console, rendered once when the console is JSON) on the
//! calling thread and hands it to a bounded [`Buffer`] through a
//! [`LokiSink`]; the shipper runs on its own thread and runtime, so
//! neither its encoding nor its network I/O takes time from the service's
//! workers.

mod buffer;
mod config;
mod encode;
mod push;
mod shipper;

use std::{sync::Arc, thread, time::Instant};

use tokio::sync::oneshot;
use tracing::Level;

pub use buffer::{Buffer, Entry, Stats};
pub use config::{ByteSize, HumanDuration, LokiAuth, LokiConfig};
pub use encode::{EncodedBatch, StreamLabels, encode};
pub use shipper::{Diagnostics, FlushReport};

use super::{
    format::{ServiceMeta, render_json},
    output::OutputLayer,
    record::{FieldValue, Record},
    redact::Redactor,
};

/// The shipper could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the Loki HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot start the Loki shipper thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A layer feeding Loki alone (tests and tools; services use one
/// [`OutputLayer`] for the console and Loki).
pub type LokiLayer = OutputLayer;

/// Where the output layer queues each event's JSON line for Loki.
pub struct LokiSink {
    buffer: Arc<Buffer>,
    max_line_bytes: usize,
}

/// Transport crates whose debug/trace events would describe the shipper's
/// own pushes: queueing them would make every push produce more lines.
const TRANSPORT_TARGETS: &[&str] = &["hyper", "hyper_util", "h2", "reqwest", "rustls", "tower"];

fn is_transport_chatter(metadata: &tracing::Metadata<'_>) -> bool {
    *metadata.level() > Level::INFO
        && TRANSPORT_TARGETS.iter().any(|t| {
            metadata
                .target()
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

impl LokiSink {
    /// Whether an event with `metadata` goes to Loki.
    pub(crate) fn wants(&self, metadata: &tracing::Metadata<'_>) -> bool {
        !is_transport_chatter(metadata)
    }

    /// Queues `line`, the JSON rendering of `record` (re-rendered with its
    /// strings cut when it exceeds Loki's line limit).
    pub(crate) fn queue(&self, record: &Record, line: &str, meta: &ServiceMeta) {
        let (time, level, trace) = (record.time, record.level, record.trace);
        let line = if line.len() > self.max_line_bytes {
            fit_line(record.clone(), meta, self.max_line_bytes)
        } else {
            line.to_owned()
        };
        self.buffer.push(Entry {
            time,
            level,
            line,
            trace,
        });
    }
}

/// Marker appended to a string value cut to make its line fit.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Re-renders `record` with its string values (message included) cut to an
/// equal share of the limit, halving the share until the line fits: the
/// line stays valid JSON, so `| json` still parses it in Grafana.
fn fit_line(mut record: Record, meta: &ServiceMeta, max_line_bytes: usize) -> String {
    let strings = 1 + record
        .fields
        .iter()
        .filter(|(_, v)| v.as_text().is_some())
        .count();
    let mut share = max_line_bytes / 2 / strings;
    loop {
        cut(&mut record.message, share);
        for (_, value) in &mut record.fields {
            if let FieldValue::Shared(text) = value {
                *value = FieldValue::Str(text.as_str().to_owned());
            }
            if let FieldValue::Str(text) = value {
                cut(text, share);
            }
        }
        let mut line = String::with_capacity(max_line_bytes);
        render_json(&record, meta, &mut line);
        if line.len() <= max_line_bytes || share <= 16 {
            return line;
        }
        share /= 2;
    }
}

fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(TRUNCATION_MARKER);
}

/// What [`LokiShipper::shutdown`] waits beyond `LOKI_FLUSH_TIMEOUT`: the
/// shipper honours the deadline itself; the margin covers a push that was
/// being encoded when it passed.
pub const FLUSH_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Handle on the running shipper; [`LokiShipper::shutdown`] flushes it.
pub struct LokiShipper {
    stop: oneshot::Sender<Instant>,
    report: oneshot::Receiver<FlushReport>,
    flush_timeout: std::time::Duration,
    buffer: Arc<Buffer>,
}

impl LokiShipper {
    /// Flushes what is buffered within `LOKI_FLUSH_TIMEOUT`, then stops.
    /// `None` if the shipper thread is gone (it cannot be: it never panics
    /// on purpose, but the caller must not hang on it either).
    pub async fn shutdown(self) -> Option<FlushReport> {
        let deadline = Instant::now() + self.flush_timeout;
        let _ = self.stop.send(deadline);
        tokio::time::timeout(self.flush_timeout + FLUSH_MARGIN, self.report)
            .await
            .ok()
            .and_then(Result::ok)
    }

    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }
}

/// Builds a Loki-only layer and starts the shipper thread pushing to `url`.
pub fn start(
    url: &str,
    config: &LokiConfig,
    meta: Arc<ServiceMeta>,
    redactor: Redactor,
    diagnostics: Diagnostics,
) -> Result<(LokiLayer, LokiShipper), StartError> {
    let (sink, shipper) = start_sink(url, config, &meta, diagnostics)?;
    Ok((OutputLayer::loki_only(sink, meta, redactor), shipper))
}

/// Starts the shipper thread pushing to `url`; the sink feeds it.
pub(crate) fn start_sink(
    url: &str,
    config: &LokiConfig,
    meta: &ServiceMeta,
    diagnostics: Diagnostics,
) -> Result<(LokiSink, LokiShipper), StartError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .no_proxy()
        .user_agent(concat!("telemetry/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let (buffer, rx) = Buffer::new(config.max_buffer_bytes, config.batch_max_bytes);
    let labels = StreamLabels::new(meta.name, meta.environment.as_str());
    let (stop_tx, stop_rx) = oneshot::channel();
    let (report_tx, report_rx) = oneshot::channel();
    let shipper = shipper::Shipper::new(
        rx,
        Arc::clone(&buffer),
        labels,
        client,
        url,
        config,
        diagnostics,
        stop_rx,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    thread::Builder::new()
        .name("loki-shipper".to_owned())
        .spawn(move || {
            let report = runtime.block_on(shipper.run());
            let _ = report_tx.send(report);
        })?;
    let sink = LokiSink {
        buffer: Arc::clone(&buffer),
        max_line_bytes: config.max_line_bytes,
    };
    Ok((
        sink,
        LokiShipper {
            stop: stop_tx,
            report: report_rx,
            flush_timeout: config.flush_timeout,
            buffer,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ServiceInfo, config::Environment};

    #[test]
    fn oversized_lines_are_cut_and_stay_json() {
        let meta = ServiceMeta::with_host(
            ServiceInfo {
                name: "backend",
                version: "1.0.0",
            },
            Environment::Development,
            "host",
            1,
        );
        let record = Record {
            time: std::time::SystemTime::now(),
            level: Level::INFO,
            message: "m".repeat(300_000),
            context: "Test".into(),
            fields: vec![
                ("body", FieldValue::Str("é".repeat(200_000))),
                ("n", FieldValue::U64(7)),
            ],
            trace: None,
        };
        let line = fit_line(record, &meta, 256 * 1024);
        assert!(line.len() <= 256 * 1024);
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(
            parsed["message"]
                .as_str()
                .unwrap()
                .ends_with(TRUNCATION_MARKER)
        );
        assert!(
            parsed["body"]
                .as_str()
                .unwrap()
                .ends_with(TRUNCATION_MARKER)
        );
        assert_eq!(parsed["n"], 7);
    }
}
