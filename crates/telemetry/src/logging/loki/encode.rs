//! Loki's native push format: a protobuf `PushRequest`, snappy block
//! compressed, one stream per level; each entry carries its `trace_id` and
//! `span_id` as structured metadata (Loki 3).

use std::time::{SystemTime, UNIX_EPOCH};

use loki_api::{prost::Message as _, prost_types::Timestamp};
use tracing::Level;

pub(crate) use wire::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};

/// Loki's `pkg/push/push.proto` as of Loki 3: the `loki-api` crate's types
/// predate `structuredMetadata` (entry field 3), so the messages are
/// declared here, field for field.
mod wire {
    use loki_api::prost_types::Timestamp;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub(crate) streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub(crate) labels: String,
        #[prost(message, repeated, tag = "2")]
        pub(crate) entries: Vec<EntryAdapter>,
        #[prost(uint64, tag = "3")]
        pub(crate) hash: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub(crate) timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub(crate) line: String,
        #[prost(message, repeated, tag = "3")]
        pub(crate) structured_metadata: Vec<LabelPairAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct LabelPairAdapter {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) value: String,
    }
}

use super::buffer::Entry;
use crate::logging::record::level_name;

const LEVELS: [Level; 5] = [
    Level::ERROR,
    Level::WARN,
    Level::INFO,
    Level::DEBUG,
    Level::TRACE,
];

fn level_index(level: Level) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(2)
}

/// The five label sets of one service: `{app, environment, level}`. Nothing
/// else becomes a label (no ids, nothing unbounded).
#[derive(Debug, Clone)]
pub struct StreamLabels([String; 5]);

impl StreamLabels {
    pub fn new(app: &str, environment: &str) -> Self {
        Self(LEVELS.map(|level| {
            format!(
                "{{app=\"{}\", environment=\"{}\", level=\"{}\"}}",
                escape_label(app),
                escape_label(environment),
                level_name(level)
            )
        }))
    }

    pub fn for_level(&self, level: Level) -> &str {
        &self.0[level_index(level)]
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A push body ready to send (and re-send), with what it holds.
#[derive(Debug)]
pub struct EncodedBatch {
    pub body: Vec<u8>,
    pub events: usize,
    /// Accounted bytes to release once the batch is done with.
    pub cost: usize,
}

/// Encodes `entries` into one push body.
pub fn encode(entries: Vec<Entry>, labels: &StreamLabels) -> Result<EncodedBatch, snap::Error> {
    let events = entries.len();
    let cost = entries.iter().map(Entry::cost).sum();
    let mut streams: [Vec<EntryAdapter>; 5] = Default::default();
    for entry in entries {
        // Structured metadata, not labels: unbounded ids must not create
        // streams, yet Loki indexes them per entry (`| trace_id="…"` with
        // no parsing, and Grafana's derived field).
        let structured_metadata = entry
            .trace
            .map(|ids| {
                vec![
                    LabelPairAdapter {
                        name: "trace_id".to_owned(),
                        value: ids.trace_id().to_owned(),
                    },
                    LabelPairAdapter {
                        name: "span_id".to_owned(),
                        value: ids.span_id().to_owned(),
                    },
                ]
            })
            .unwrap_or_default();
        streams[level_index(entry.level)].push(EntryAdapter {
            timestamp: Some(timestamp(entry.time)),
            line: entry.line,
            structured_metadata,
        });
    }
    let request = PushRequest {
        streams: streams
            .into_iter()
            .zip(LEVELS)
            .filter(|(entries, _)| !entries.is_empty())
            .map(|(entries, level)| StreamAdapter {
                labels: labels.for_level(level).to_owned(),
                entries,
                hash: 0,
            })
            .collect(),
    };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?;
    Ok(EncodedBatch { body, events, cost })
}

fn timestamp(time: SystemTime) -> Timestamp {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::trace_ids::TraceIds;

    #[test]
    fn round_trips_through_snappy_and_protobuf() {
        let labels = StreamLabels::new("backend", "development");
        let entries = vec![
            Entry {
                time: UNIX_EPOCH,
                level: Level::INFO,
                line: "a".into(),
                trace: TraceIds::from_hex("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
            },
            Entry {
                time: UNIX_EPOCH,
                level: Level::ERROR,
                line: "b".into(),
                trace: None,
            },
            Entry {
                time: UNIX_EPOCH,
                level: Level::INFO,
                line: "c".into(),
                trace: None,
            },
        ];
        let batch = encode(entries, &labels).unwrap();
        assert_eq!(batch.events, 3);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&batch.body)
            .unwrap();
        let request = PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.streams.len(), 2);
        assert_eq!(
            request.streams[0].labels,
            r#"{app="backend", environment="development", level="error"}"#
        );
        let info: Vec<&str> = request.streams[1]
            .entries
            .iter()
            .map(|e| e.line.as_str())
            .collect();
        assert_eq!(info, ["a", "c"]);
        let metadata: Vec<(&str, &str)> = request.streams[1].entries[0]
            .structured_metadata
            .iter()
            .map(|pair| (pair.name.as_str(), pair.value.as_str()))
            .collect();
        assert_eq!(
            metadata,
            [
                ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
                ("span_id", "00f067aa0ba902b7")
            ]
        );
        assert!(request.streams[0].entries[0].structured_metadata.is_empty());
        // Readable by the loki-api types too (the new field is skipped).
        let legacy = loki_api::logproto::PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(legacy.streams[1].entries[1].line, "c");
    }
}
