//! An in-test Loki: `POST /loki/api/v1/push` on an ephemeral port, decoding
//! the native format (snappy block + protobuf `PushRequest`, with the
//! `loki-api` types) and recording every entry. Its mode makes it accept,
//! reject (4xx with a body), fail (429/5xx), hang, or go away and come back
//! (connections refused meanwhile). It also answers `GET /ready` (with a
//! `Date` header that [`LokiReceiver::set_clock_offset`] can skew) and
//! `GET /loki/api/v1/query_range` over what it received, for stream
//! selectors with `=` matchers and `|=` line filters (Loki's JSON answer).
//!
//! ```ignore
//! let loki = LokiReceiver::start().await;
//! // point LOKI_URL at loki.url(), log…
//! let entries = loki.wait_for_entries(10, Duration::from_secs(10)).await;
//! loki.set_mode(LokiMode::Reject { status: 400, body: "line too long".into() });
//! loki.stop().await; /* outage */ loki.resume().await;
//! ```

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use loki_api::prost::Message as _;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// How the receiver answers pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LokiMode {
    /// Decode, record, answer 204 (Loki's answer).
    Accept,
    /// Answer `status` (a 4xx) with `body`; nothing recorded.
    Reject { status: u16, body: String },
    /// Answer `status` (429 or 5xx), with `Retry-After: secs` if set.
    Fail {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Never answer (until the mode changes or the receiver stops).
    Hang,
}

/// One decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEntry {
    pub labels: BTreeMap<String, String>,
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i128,
    pub line: String,
    /// The entry's structured metadata (Loki 3), e.g. `trace_id`.
    pub structured_metadata: BTreeMap<String, String>,
}

/// Loki's `pkg/push/push.proto` (Loki 3), read independently of the
/// services' encoder: the `loki-api` crate's types have no
/// `structuredMetadata` (entry field 3).
mod push_proto {
    use loki_api::prost_types::Timestamp;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub line: String,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

impl ReceivedEntry {
    /// The line parsed as JSON (our lines are JSON objects).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.line)
            .unwrap_or_else(|error| panic!("line is not JSON ({error}): {}", self.line))
    }
}

/// One push as received.
#[derive(Debug, Clone)]
pub struct PushInfo {
    pub headers: HeaderMap,
    /// The status answered.
    pub status: u16,
    /// Entries in the request (0 when not decoded).
    pub entries: usize,
    /// Size of the body as sent (snappy-compressed).
    pub body_bytes: usize,
    /// Size of the protobuf message once decompressed (0 when not decoded):
    /// what Loki's 4 MB message limit applies to.
    pub decoded_bytes: usize,
}

struct Shared {
    mode: Mutex<LokiMode>,
    entries: Mutex<Vec<ReceivedEntry>>,
    pushes: Mutex<Vec<PushInfo>>,
    /// Bumped to release hanging requests.
    release: watch::Sender<u64>,
    /// Seconds added to the clock `/ready`'s `Date` header shows.
    clock_offset_secs: AtomicI64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running receiver. Dropping it stops the server.
pub struct LokiReceiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<Server>>,
}

struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl LokiReceiver {
    /// Starts on an ephemeral loopback port, accepting.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot bind the Loki receiver: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"));
        let shared = Arc::new(Shared {
            mode: Mutex::new(LokiMode::Accept),
            entries: Mutex::new(Vec::new()),
            pushes: Mutex::new(Vec::new()),
            release: watch::channel(0).0,
            clock_offset_secs: AtomicI64::new(0),
        });
        let server = serve(listener, Arc::clone(&shared));
        Self {
            shared,
            addr,
            server: Mutex::new(Some(server)),
        }
    }

    /// Base URL, as `LOKI_URL` takes it (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every entry received so far, in arrival order.
    pub fn entries(&self) -> Vec<ReceivedEntry> {
        lock(&self.shared.entries).clone()
    }

    pub fn entry_count(&self) -> usize {
        lock(&self.shared.entries).len()
    }

    /// Every push request received, whatever the answer.
    pub fn pushes(&self) -> Vec<PushInfo> {
        lock(&self.shared.pushes).clone()
    }

    /// Changes how later pushes are answered; releases hanging ones.
    pub fn set_mode(&self, mode: LokiMode) {
        *lock(&self.shared.mode) = mode;
        self.shared
            .release
            .send_modify(|generation| *generation += 1);
    }

    /// Makes `/ready`'s `Date` header run `seconds` ahead (negative: behind)
    /// of this machine's clock, as a Loki host with a skewed clock would.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared
            .clock_offset_secs
            .store(seconds, Ordering::SeqCst);
    }

    /// Stops listening: new connections are refused, open ones closed.
    pub async fn stop(&self) {
        let server = lock(&self.server).take();
        let Some(server) = server else { return };
        self.shared
            .release
            .send_modify(|generation| *generation += 1);
        let _ = server.stop.send(());
        if tokio::time::timeout(Duration::from_secs(5), server.task)
            .await
            .is_err()
        {
            panic!("the Loki receiver did not stop within 5 s");
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&self) {
        let start = Instant::now();
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(error) if start.elapsed() < Duration::from_secs(10) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot listen again on {}: {error}", self.addr),
            }
        };
        *lock(&self.server) = Some(serve(listener, Arc::clone(&self.shared)));
    }

    /// Polls until at least `n` entries arrived; panics at `deadline`.
    pub async fn wait_for_entries(&self, n: usize, deadline: Duration) -> Vec<ReceivedEntry> {
        crate::poll_until(deadline, &format!("{n} Loki entries"), || async {
            let entries = lock(&self.shared.entries);
            (entries.len() >= n).then(|| entries.clone())
        })
        .await
    }
}

impl Drop for LokiReceiver {
    fn drop(&mut self) {
        if let Some(server) = lock(&self.server).take() {
            server.task.abort();
        }
    }
}

fn serve(listener: TcpListener, shared: Arc<Shared>) -> Server {
    let app = Router::new()
        .route("/loki/api/v1/push", post(push))
        .route("/ready", get(ready))
        .route("/loki/api/v1/query_range", get(query_range))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Server { stop, task }
}

async fn push(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mode = lock(&shared.mode).clone();
    let record = |status: u16, entries: usize| {
        lock(&shared.pushes).push(PushInfo {
            headers: headers.clone(),
            status,
            entries,
            body_bytes: body.len(),
            decoded_bytes: if entries > 0 {
                snap::raw::decompress_len(&body).unwrap_or(0)
            } else {
                0
            },
        });
    };
    match mode {
        LokiMode::Hang => {
            let mut released = shared.release.subscribe();
            let _ = released.changed().await;
            record(503, 0);
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        LokiMode::Reject { status, body } => {
            record(status, 0);
            (status_code(status), body).into_response()
        }
        LokiMode::Fail {
            status,
            retry_after,
        } => {
            record(status, 0);
            let mut response = (status_code(status), "try later").into_response();
            if let Some(secs) = retry_after
                && let Ok(value) = secs.to_string().parse()
            {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        LokiMode::Accept => match decode(&body) {
            Ok(entries) => {
                record(204, entries.len());
                lock(&shared.entries).extend(entries);
                StatusCode::NO_CONTENT.into_response()
            }
            Err(error) => {
                record(400, 0);
                (StatusCode::BAD_REQUEST, error).into_response()
            }
        },
    }
}

/// Loki's readiness answer, dated by the (possibly skewed) clock.
async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let offset = chrono::TimeDelta::seconds(shared.clock_offset_secs.load(Ordering::SeqCst));
    let date = (chrono::Utc::now() + offset)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let mut response = "ready\n".into_response();
    if let Ok(value) = date.parse() {
        response.headers_mut().insert("date", value);
    }
    response
}

/// `query_range` over the received entries: the streams whose labels match
/// every `=` matcher of the selector, lines containing every `|=` filter,
/// between `start` and `end` (nanoseconds), in Loki's JSON shape.
async fn query_range(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = params.get("query").map(String::as_str).unwrap_or_default();
    let (matchers, filters) = match parse_query(query) {
        Ok(parsed) => parsed,
        Err(error) => {
            return (StatusCode::BAD_REQUEST, format!("parse error: {error}")).into_response();
        }
    };
    let bound = |key: &str, default: i128| {
        params
            .get(key)
            .and_then(|value| value.parse::<i128>().ok())
            .unwrap_or(default)
    };
    let (start, end) = (bound("start", 0), bound("end", i128::MAX));
    let mut streams: BTreeMap<BTreeMap<String, String>, Vec<serde_json::Value>> = BTreeMap::new();
    for entry in lock(&shared.entries).iter() {
        let selected = matchers
            .iter()
            .all(|(name, value)| entry.labels.get(name) == Some(value))
            && filters
                .iter()
                .all(|filter| entry.line.contains(filter.as_str()))
            && (start..=end).contains(&entry.timestamp_ns);
        if selected {
            streams
                .entry(entry.labels.clone())
                .or_default()
                .push(serde_json::json!([
                    entry.timestamp_ns.to_string(),
                    entry.line
                ]));
        }
    }
    let result: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(stream, values)| serde_json::json!({ "stream": stream, "values": values }))
        .collect();
    Json(serde_json::json!({
        "status": "success",
        "data": { "resultType": "streams", "result": result, "stats": {} },
    }))
    .into_response()
}

/// `{a="x", b="y"} |= "text" |= "more"` into matchers and line filters.
fn parse_query(query: &str) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let query = query.trim();
    let close = query.find('}').ok_or("no stream selector")?;
    let matchers = parse_labels(&query[..=close])?;
    let mut filters = Vec::new();
    let mut rest = query[close + 1..].trim_start();
    while !rest.is_empty() {
        let quoted = rest
            .strip_prefix("|=")
            .map(str::trim_start)
            .filter(|quoted| quoted.starts_with('"'))
            .ok_or_else(|| format!("only |= \"…\" line filters are supported, got {rest:?}"))?;
        let mut escaped = false;
        let end = quoted
            .char_indices()
            .skip(1)
            .find(|&(_, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            })
            .map(|(index, _)| index)
            .ok_or("unterminated string")?;
        let filter: String =
            serde_json::from_str(&quoted[..=end]).map_err(|error| error.to_string())?;
        filters.push(filter);
        rest = quoted[end + 1..].trim_start();
    }
    Ok((matchers, filters))
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Largest decompressed push accepted; Loki too refuses a push past its
/// message size limit. The shipper's batches are 1 MiB by default.
pub const MAX_DECODED_PUSH_BYTES: usize = 64 * 1024 * 1024;

/// Decodes a push body the way Loki does.
pub fn decode(body: &[u8]) -> Result<Vec<ReceivedEntry>, String> {
    let claimed = snap::raw::decompress_len(body).map_err(|error| format!("snappy: {error}"))?;
    if claimed > MAX_DECODED_PUSH_BYTES {
        return Err(format!(
            "snappy: {claimed} bytes decompressed is past the push limit of {MAX_DECODED_PUSH_BYTES}"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|error| format!("snappy: {error}"))?;
    let request = push_proto::PushRequest::decode(raw.as_slice())
        .map_err(|error| format!("protobuf: {error}"))?;
    let mut entries = Vec::new();
    for stream in request.streams {
        let labels = parse_labels(&stream.labels)?;
        for entry in stream.entries {
            let timestamp = entry.timestamp.ok_or("entry without timestamp")?;
            entries.push(ReceivedEntry {
                labels: labels.clone(),
                timestamp_ns: i128::from(timestamp.seconds) * 1_000_000_000
                    + i128::from(timestamp.nanos),
                line: entry.line,
                structured_metadata: entry
                    .structured_metadata
                    .into_iter()
                    .map(|pair| (pair.name, pair.value))
                    .collect(),
            });
        }
    }
    Ok(entries)
}

/// Parses a Prometheus-style label set: `{a="x", b="y\"z"}`.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("labels not in braces: {text}"))?;
    let mut labels = BTreeMap::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(labels);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return Err(format!("label {name} has no quoted value: {text}"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => value.extend(chars.next()),
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("unterminated value: {text}")),
            }
        }
        labels.insert(name.trim().to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`loki_push`): a 5-byte body whose snappy header
    /// claims 4 GiB made the decoder allocate all of it up front.
    #[test]
    fn a_body_claiming_more_than_the_push_limit_is_refused_before_decompressing() {
        let claims_4_gib = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let error = decode(&claims_4_gib).unwrap_err();
        assert!(error.contains("push limit"), "{error}");
        // The header alone (a varint of the length) decides.
        let mut just_over = Vec::new();
        let mut length = MAX_DECODED_PUSH_BYTES + 1;
        while length >= 0x80 {
            just_over.push((length as u8) | 0x80);
            length >>= 7;
        }
        just_over.push(length as u8);
        let error = decode(&just_over).unwrap_err();
        assert!(error.contains("push limit"), "{error}");
    }

    #[test]
    fn labels_parse_with_escapes() {
        let labels = parse_labels(r#"{app="backend", level="info", odd="a\"b,c"}"#).unwrap();
        assert_eq!(labels["app"], "backend");
        assert_eq!(labels["odd"], "a\"b,c");
        assert!(parse_labels("app=x").is_err());
    }

    #[test]
    fn queries_parse_into_matchers_and_line_filters() {
        let (matchers, filters) =
            parse_query(r#"{app="doctor"} |= "marker-1" |= "a \"b\"""#).unwrap();
        assert_eq!(matchers["app"], "doctor");
        assert_eq!(filters, ["marker-1", "a \"b\""]);
        assert!(parse_query(r#"{app="x"} |~ "re""#).is_err());
        assert!(parse_query("app").is_err());
    }
}
