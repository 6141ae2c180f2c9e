//! Loki's native push format: a protobuf `PushRequest`, snappy block
//! compressed, one stream per level; each entry carries its `trace_id` and
//! `span_id` as structured metadata (Loki 3).

use std::time::{SystemTime, UNIX_EPOCH};

use prost::encoding::{encode_varint, encoded_len_varint};
use tracing::Level;

/// Loki's `pkg/push/push.proto` as of Loki 3 (the `loki-api` crate's types
/// predate `structuredMetadata`, entry field 3), field for field: what
/// [`encode`] writes, decoded by the tests.
#[cfg(test)]
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

/// Encodes `entries` into one push body: the protobuf written straight from
/// the entries, without building the message types (which would cost four
/// strings per line for its structured metadata, and compute every nested
/// length three times), then snappy.
pub fn encode(entries: Vec<Entry>, labels: &StreamLabels) -> Result<EncodedBatch, snap::Error> {
    let events = entries.len();
    let cost = entries.iter().map(Entry::cost).sum();
    let mut streams: [Vec<&Entry>; 5] = Default::default();
    for entry in &entries {
        streams[level_index(entry.level)].push(entry);
    }
    let mut request = Vec::with_capacity(entries.iter().map(|e| e.line.len() + 96).sum());
    for (stream, level) in streams.iter().zip(LEVELS) {
        if stream.is_empty() {
            continue;
        }
        let labels = labels.for_level(level);
        let entries_len: usize = stream.iter().map(|e| field_len(entry_len(e))).sum();
        // PushRequest.streams = 1: StreamAdapter { labels = 1, entries = 2 }
        write_len_field(&mut request, 1, field_len(labels.len()) + entries_len);
        write_bytes_field(&mut request, 1, labels.as_bytes());
        for entry in stream {
            write_entry(&mut request, entry);
        }
    }
    let body = snap::raw::Encoder::new().compress_vec(&request)?;
    Ok(EncodedBatch { body, events, cost })
}

/// Structured metadata, not labels: unbounded ids must not create streams,
/// yet Loki indexes them per entry (`| trace_id="…"` with no parsing, and
/// Grafana's derived field).
const TRACE_ID: &[u8] = b"trace_id";
const SPAN_ID: &[u8] = b"span_id";

/// EntryAdapter { timestamp = 1, line = 2, structured_metadata = 3 }.
fn write_entry(out: &mut Vec<u8>, entry: &Entry) {
    let (seconds, nanos) = timestamp(entry.time);
    write_len_field(out, 2, entry_len(entry));
    // Timestamp { seconds = 1, nanos = 2 }
    write_len_field(out, 1, timestamp_len(seconds, nanos));
    write_varint_field(out, 1, seconds);
    write_varint_field(out, 2, nanos);
    write_bytes_field(out, 2, entry.line.as_bytes());
    if let Some(ids) = &entry.trace {
        for (name, value) in [(TRACE_ID, ids.trace_id()), (SPAN_ID, ids.span_id())] {
            // LabelPairAdapter { name = 1, value = 2 }
            write_len_field(out, 3, label_len(name, value));
            write_bytes_field(out, 1, name);
            write_bytes_field(out, 2, value.as_bytes());
        }
    }
}

fn entry_len(entry: &Entry) -> usize {
    let (seconds, nanos) = timestamp(entry.time);
    let trace = entry.trace.as_ref().map_or(0, |ids| {
        field_len(label_len(TRACE_ID, ids.trace_id()))
            + field_len(label_len(SPAN_ID, ids.span_id()))
    });
    field_len(timestamp_len(seconds, nanos)) + bytes_field_len(entry.line.len()) + trace
}

fn label_len(name: &[u8], value: &str) -> usize {
    bytes_field_len(name.len()) + bytes_field_len(value.len())
}

fn timestamp_len(seconds: u64, nanos: u64) -> usize {
    varint_field_len(seconds) + varint_field_len(nanos)
}

/// A length-delimited field of `len` bytes: its key (one byte for fields
/// 1-15), the length, the bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Proto3 leaves out empty strings and zero numbers.
fn bytes_field_len(len: usize) -> usize {
    if len == 0 { 0 } else { field_len(len) }
}

fn varint_field_len(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        1 + encoded_len_varint(value)
    }
}

fn write_len_field(out: &mut Vec<u8>, field: u8, len: usize) {
    out.push(field << 3 | 2);
    encode_varint(len as u64, out);
}

fn write_bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    if !bytes.is_empty() {
        write_len_field(out, field, bytes.len());
        out.extend_from_slice(bytes);
    }
}

fn write_varint_field(out: &mut Vec<u8>, field: u8, value: u64) {
    if value != 0 {
        out.push(field << 3);
        encode_varint(value, out);
    }
}

/// Seconds and nanoseconds since the epoch (int64 and int32 on the wire,
/// never negative here, so their varints are those of the unsigned values).
fn timestamp(time: SystemTime) -> (u64, u64) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    (
        since_epoch.as_secs().min(i64::MAX as u64),
        u64::from(since_epoch.subsec_nanos()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::trace_ids::TraceIds;
    use prost::Message as _;
    use wire::PushRequest;

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

    /// The bytes written by hand are the bytes prost writes for the same
    /// messages: every level, empty and long lines (multi-byte lengths),
    /// entries with and without ids, times at and after the epoch.
    #[test]
    fn the_hand_written_protobuf_is_prosts() {
        let labels = StreamLabels::new("backend", "production");
        let ids = TraceIds::from_hex("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
        let entries: Vec<Entry> = (0..300u64)
            .map(|i| Entry {
                time: UNIX_EPOCH + std::time::Duration::from_nanos(i * 1_234_567_891),
                level: LEVELS[(i % 5) as usize],
                line: "é".repeat((i * 37 % 500) as usize),
                trace: if i % 3 == 0 { None } else { ids },
            })
            .collect();
        let expected = wire::PushRequest {
            streams: LEVELS
                .iter()
                .map(|&level| wire::StreamAdapter {
                    labels: labels.for_level(level).to_owned(),
                    entries: entries
                        .iter()
                        .filter(|e| e.level == level)
                        .map(|e| wire::EntryAdapter {
                            timestamp: Some(loki_api::prost_types::Timestamp {
                                seconds: timestamp(e.time).0 as i64,
                                nanos: timestamp(e.time).1 as i32,
                            }),
                            line: e.line.clone(),
                            structured_metadata: e
                                .trace
                                .iter()
                                .flat_map(|ids| {
                                    [("trace_id", ids.trace_id()), ("span_id", ids.span_id())]
                                })
                                .map(|(name, value)| wire::LabelPairAdapter {
                                    name: name.to_owned(),
                                    value: value.to_owned(),
                                })
                                .collect(),
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        }
        .encode_to_vec();
        let batch = encode(entries, &labels).unwrap();
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&batch.body)
            .unwrap();
        assert_eq!(raw, expected);
    }
}
