//! Loki's native push format: a protobuf `PushRequest`, snappy block
//! compressed, one stream per level.

use std::time::{SystemTime, UNIX_EPOCH};

use loki_api::{
    logproto::{EntryAdapter, PushRequest, StreamAdapter},
    prost::Message as _,
    prost_types::Timestamp,
};
use tracing::Level;

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
        streams[level_index(entry.level)].push(EntryAdapter {
            timestamp: Some(timestamp(entry.time)),
            line: entry.line,
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

    #[test]
    fn round_trips_through_snappy_and_protobuf() {
        let labels = StreamLabels::new("backend", "development");
        let entries = vec![
            Entry {
                time: UNIX_EPOCH,
                level: Level::INFO,
                line: "a".into(),
            },
            Entry {
                time: UNIX_EPOCH,
                level: Level::ERROR,
                line: "b".into(),
            },
            Entry {
                time: UNIX_EPOCH,
                level: Level::INFO,
                line: "c".into(),
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
    }
}
