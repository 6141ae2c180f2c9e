//! An in-test OTLP trace receiver: the collector's trace service over
//! HTTP/protobuf (`POST /v1/traces`, an `ExportTraceServiceRequest` body)
//! and over gRPC (unary `TraceService/Export`, h2c on the same port),
//! decoded with the official `opentelemetry-proto` types.
//!
//! It also answers as Tempo's query API does: `GET /ready`, and
//! `GET /api/traces/{id}` with the spans of that trace as a protobuf
//! `TracesData` (Tempo's `Trace` message has the same wire format), 404
//! when none arrived.
//!
//! Modes: [`Mode::Accept`] records spans and answers 200; [`Mode::Hang`]
//! holds every request open without answering; [`OtlpReceiver::stop`] stops
//! listening (connections are refused). [`unreachable_endpoint`] is an
//! endpoint nothing listens on.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Response, StatusCode},
    routing::{get, post},
};
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{ResourceSpans, TracesData},
};
use prost_otlp::Message as _;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Record the spans, answer 200.
    Accept,
    /// Never answer (a collector that accepted the connection and hangs).
    Hang,
}

/// One span as the receiver got it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service_name: String,
    /// Hex, 32 chars.
    pub trace_id: String,
    /// Hex, 16 chars.
    pub span_id: String,
    /// Hex, 16 chars; `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `server`, `client`, `internal`, `producer`, `consumer`.
    pub kind: &'static str,
    /// `unset`, `ok`, `error`.
    pub status: &'static str,
    /// Attribute values rendered as strings (ints in decimal).
    pub attributes: BTreeMap<String, String>,
    /// The resource's attributes, rendered the same way.
    pub resource: BTreeMap<String, String>,
    /// The span's events, in order.
    pub events: Vec<ReceivedEvent>,
    /// The span's size as encoded in the request (protobuf bytes).
    pub encoded_bytes: usize,
}

/// One span event as the receiver got it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    pub name: String,
    /// Rendered as the span's attributes are.
    pub attributes: BTreeMap<String, String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Default)]
struct Shared {
    spans: Mutex<Vec<ReceivedSpan>>,
    /// The requests' resource spans as received, for `/api/traces/{id}`.
    batches: Mutex<Vec<ResourceSpans>>,
    mode: AtomicU8,
    requests: AtomicUsize,
}

/// A running receiver on a loopback ephemeral port; stops when dropped.
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts listening, in [`Mode::Accept`]. Call inside a Tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot bind the OTLP receiver: {error}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"))
            .port();
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/traces", post(export))
            .route(GRPC_EXPORT, post(export_grpc))
            .route("/ready", get(|| async { "ready" }))
            .route("/api/traces/{id}", get(find_trace))
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            shared,
            port,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// The base URL to put in `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Export requests received (answered or not).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared
            .spans
            .lock()
            .map(|spans| spans.clone())
            .unwrap_or_default()
    }

    /// How many spans were received so far (without copying them).
    pub fn span_count(&self) -> usize {
        self.shared
            .spans
            .lock()
            .map(|spans| spans.len())
            .unwrap_or(0)
    }

    /// Spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|span| span.trace_id == trace_id)
            .collect()
    }

    /// Waits (polling, up to `deadline`) until `ready` holds for the spans
    /// received, and returns them.
    pub async fn wait_for(
        &self,
        deadline: Duration,
        what: &str,
        ready: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        crate::poll_until(deadline, what, || {
            let spans = self.spans();
            let done = ready(&spans);
            async move { done.then_some(spans) }
        })
        .await
    }

    /// Stops listening: from now on connections are refused. Hanging
    /// requests are cut.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            // Graceful shutdown waits for open requests; a hanging one never
            // ends, so cut it after a moment.
            if tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
            {
                server.abort();
                let _ = server.await;
            }
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// An OTLP endpoint nothing listens on (connections are refused).
pub fn unreachable_endpoint() -> String {
    format!("http://127.0.0.1:{}", crate::free_port())
}

/// The gRPC method path of the collector's trace service.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

async fn export(State(shared): State<Arc<Shared>>, body: Bytes) -> (StatusCode, Vec<u8>) {
    match receive(&shared, &body).await {
        Ok(()) => (
            StatusCode::OK,
            ExportTraceServiceResponse::default().encode_to_vec(),
        ),
        Err(error) => (StatusCode::BAD_REQUEST, error.into_bytes()),
    }
}

/// gRPC unary call: a 5-byte frame header (compressed flag, big-endian
/// length) before the message, and the status in the trailers.
async fn export_grpc(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let outcome = match body.get(5..) {
        Some(message) if body.first() == Some(&0) => receive(&shared, message).await,
        _ => Err("expected one uncompressed gRPC frame".to_owned()),
    };
    let (status, reply) = match outcome {
        Ok(()) => ("0", ExportTraceServiceResponse::default().encode_to_vec()),
        // INVALID_ARGUMENT
        Err(_) => ("3", Vec::new()),
    };
    let mut frame = Vec::with_capacity(5 + reply.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(reply.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(&reply);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    let body = Full::new(Bytes::from(frame)).with_trailers(async move { Some(Ok(trailers)) });
    let mut response = Response::new(Body::new(body));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    response
}

/// Records the spans of one export request (or hangs, in [`Mode::Hang`]).
async fn receive(shared: &Shared, message: &[u8]) -> Result<(), String> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if shared.mode.load(Ordering::SeqCst) == Mode::Hang as u8 {
        std::future::pending::<()>().await;
    }
    let request = ExportTraceServiceRequest::decode(message).map_err(|e| e.to_string())?;
    if let Ok(mut batches) = shared.batches.lock() {
        batches.extend(request.resource_spans.iter().cloned());
    }
    let received = decode_spans(request);
    if let Ok(mut spans) = shared.spans.lock() {
        spans.extend(received);
    }
    Ok(())
}

/// Tempo's trace by id: the received resource spans reduced to that
/// trace's spans, as protobuf.
async fn find_trace(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response<Body> {
    let id = id.to_ascii_lowercase();
    let batches: Vec<ResourceSpans> = shared
        .batches
        .lock()
        .map(|batches| batches.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|mut batch| {
            for scope in &mut batch.scope_spans {
                scope.spans.retain(|span| hex(&span.trace_id) == id);
            }
            batch.scope_spans.retain(|scope| !scope.spans.is_empty());
            (!batch.scope_spans.is_empty()).then_some(batch)
        })
        .collect();
    if batches.is_empty() {
        let mut response = Response::new(Body::from("trace not found"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let body = TracesData {
        resource_spans: batches,
    }
    .encode_to_vec();
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/protobuf"),
    );
    response
}

fn decode_spans(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = attributes(
            resource_spans
                .resource
                .map(|resource| resource.attributes)
                .unwrap_or_default(),
        );
        let service_name = resource.get("service.name").cloned().unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let encoded_bytes = span.encoded_len();
                let events = span
                    .events
                    .into_iter()
                    .map(|event| ReceivedEvent {
                        name: event.name,
                        attributes: attributes(event.attributes),
                    })
                    .collect();
                out.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    kind: match span.kind {
                        1 => "internal",
                        2 => "server",
                        3 => "client",
                        4 => "producer",
                        5 => "consumer",
                        _ => "unspecified",
                    },
                    status: match span.status.map(|status| status.code) {
                        Some(1) => "ok",
                        Some(2) => "error",
                        _ => "unset",
                    },
                    attributes: attributes(span.attributes),
                    resource: resource.clone(),
                    events,
                    encoded_bytes,
                });
            }
        }
    }
    out
}

fn attributes(pairs: Vec<KeyValue>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|pair| (pair.key, pair.value.map(render).unwrap_or_default()))
        .collect()
}

fn render(value: AnyValue) -> String {
    match value.value {
        Some(any_value::Value::StringValue(s)) => s,
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
