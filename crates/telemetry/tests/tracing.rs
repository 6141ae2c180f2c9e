//! Distributed tracing end to end inside one process: three small axum
//! services chained with the shared client (A → B → C), each with its own
//! tracer provider (its own `service.name`) exporting to an in-test OTLP
//! receiver.
//!
//! One process can install only one global subscriber, so each service runs
//! on its own thread, with a current-thread Tokio runtime and a
//! thread-default subscriber (`tracing::subscriber::set_default`): every task
//! of that service runs on that thread, so every span it creates reaches its
//! own OpenTelemetry layer and provider, exactly as in a separate process.
//! The propagator is process-wide and the same for all, as in production.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, thread, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use serde_json::{Value, json};
use telemetry::{
    ServiceInfo,
    config::Environment,
    trace::{
        HttpClient, ProviderSettings, SpanQueue, TraceConfig, Tracing, config::BatchSettings,
        metrics, propagation,
    },
};
use testkit::otlp::{Mode, OtlpReceiver, ReceivedSpan, unreachable_endpoint};
use tokio::sync::oneshot;
use tracing_subscriber::layer::SubscriberExt as _;

const DEADLINE: Duration = Duration::from_secs(20);
const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// An in-process service on its own thread; stopped (and flushed) by
/// [`TestService::stop`] or on drop.
struct TestService {
    port: u16,
    queue: Option<Arc<SpanQueue>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestService {
    fn start(
        name: &'static str,
        endpoint: Option<String>,
        config: TraceConfig,
        routes: impl FnOnce(HttpClient) -> Router + Send + 'static,
    ) -> Self {
        propagation::install_propagator();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let tracing = Tracing::build(&ProviderSettings {
                    service: ServiceInfo {
                        name,
                        version: "0.0.0-test",
                    },
                    environment: Environment::Development,
                    endpoint: endpoint.as_deref(),
                    config: &config,
                    redactor: telemetry::logging::Redactor::default(),
                })
                .unwrap();
                let subscriber = tracing_subscriber::registry().with(tracing.layer());
                let _guard = tracing::subscriber::set_default(subscriber);
                let client = HttpClient::new(Duration::from_secs(10)).unwrap();
                let app = routes(client).layer(telemetry::trace::layer());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let port = listener.local_addr().unwrap().port();
                ready_tx.send((port, tracing.queue())).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
                tracing.shutdown().await;
            });
        });
        let (port, queue) = ready_rx.recv_timeout(DEADLINE).unwrap();
        Self {
            port,
            queue,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Graceful stop: drains, then flushes spans (as `Telemetry::shutdown`).
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        if !thread::panicking() {
            self.stop();
        }
    }
}

/// Export quickly so tests wait little.
fn fast_export() -> TraceConfig {
    TraceConfig {
        batch: BatchSettings {
            schedule_delay: Duration::from_millis(50),
            ..BatchSettings::default()
        },
        shutdown_timeout: Duration::from_secs(5),
        ..TraceConfig::default()
    }
}

/// C: the leaf, answering with the ids it sees (what its logs would carry).
fn leaf_routes(_client: HttpClient) -> Router {
    Router::new().route(
        "/api/guilds/{id}",
        get(|Path(id): Path<u64>| async move {
            let ids = telemetry::trace::current_ids().unwrap();
            Json(json!({ "guild": id, "trace_id": ids.trace_id, "span_id": ids.span_id }))
        }),
    )
}

/// A and B: relay to `upstream` with the shared client.
fn relay_routes(upstream: String) -> impl FnOnce(HttpClient) -> Router {
    move |client| {
        Router::new()
            .route(
                "/relay/{id}",
                get(
                    |State((client, upstream)): State<(HttpClient, String)>,
                     Path(id): Path<u64>| async move {
                        match client.send(client.get(format!("{upstream}/{id}"))).await {
                            Ok(response) => (
                                StatusCode::OK,
                                Json(response.json::<Value>().await.unwrap()),
                            ),
                            Err(_) => (
                                StatusCode::BAD_GATEWAY,
                                Json(json!({ "error": "upstream unreachable" })),
                            ),
                        }
                    },
                ),
            )
            .with_state((client, upstream))
    }
}

fn trace_id_of(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap()
}

fn find<'a>(spans: &'a [ReceivedSpan], service: &str, kind: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.service_name == service && s.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} span from {service} in {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_three_services() {
    // Arrange
    let receiver = OtlpReceiver::start().await;
    let endpoint = Some(receiver.endpoint());
    let c = TestService::start("svc-c", endpoint.clone(), fast_export(), leaf_routes);
    let b = TestService::start(
        "svc-b",
        endpoint.clone(),
        fast_export(),
        relay_routes(c.url("/api/guilds")),
    );
    let a = TestService::start(
        "svc-a",
        endpoint.clone(),
        fast_export(),
        relay_routes(b.url("/relay")),
    );

    // Act
    let response = testkit::http_client()
        .get(a.url("/relay/42"))
        .header("traceparent", format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"))
        .header("user-agent", "tracing-test/1")
        .send()
        .await
        .unwrap();

    // Assert: the caller's trace continues, and the response says so.
    assert_eq!(response.status(), 200);
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(trace_id_of(&traceparent), PARENT_TRACE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["trace_id"], PARENT_TRACE,
        "the leaf's logs carry the trace id"
    );

    let spans = receiver
        .wait_for(DEADLINE, "5 spans of the trace", |spans| {
            spans.iter().filter(|s| s.trace_id == PARENT_TRACE).count() >= 5
        })
        .await;
    let spans: Vec<ReceivedSpan> = spans
        .into_iter()
        .filter(|s| s.trace_id == PARENT_TRACE)
        .collect();
    assert_eq!(spans.len(), 5, "{spans:#?}");

    let a_server = find(&spans, "svc-a", "server");
    let a_client = find(&spans, "svc-a", "client");
    let b_server = find(&spans, "svc-b", "server");
    let b_client = find(&spans, "svc-b", "client");
    let c_server = find(&spans, "svc-c", "server");

    // Parent/child links, across the three services.
    assert_eq!(a_server.parent_span_id.as_deref(), Some(PARENT_SPAN));
    assert_eq!(a_client.parent_span_id.as_ref(), Some(&a_server.span_id));
    assert_eq!(b_server.parent_span_id.as_ref(), Some(&a_client.span_id));
    assert_eq!(b_client.parent_span_id.as_ref(), Some(&b_server.span_id));
    assert_eq!(c_server.parent_span_id.as_ref(), Some(&b_client.span_id));
    assert_eq!(body["span_id"], c_server.span_id.as_str());
    assert_eq!(trace_id_of(&traceparent), a_server.trace_id);
    assert!(
        traceparent.contains(&a_server.span_id),
        "response names A's server span"
    );

    // Server span: HTTP semantic conventions.
    assert_eq!(c_server.name, "GET /api/guilds/{id}");
    assert_eq!(c_server.attribute("http.request.method"), Some("GET"));
    assert_eq!(c_server.attribute("http.route"), Some("/api/guilds/{id}"));
    assert_eq!(c_server.attribute("url.path"), Some("/api/guilds/42"));
    assert_eq!(c_server.attribute("http.response.status_code"), Some("200"));
    assert_eq!(c_server.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(
        a_server.attribute("user_agent.original"),
        Some("tracing-test/1")
    );
    assert_eq!(a_server.name, "GET /relay/{id}");
    assert_eq!(c_server.status, "unset");

    // Client span.
    assert_eq!(b_client.name, "GET");
    assert_eq!(b_client.attribute("http.request.method"), Some("GET"));
    assert_eq!(
        b_client.attribute("url.full"),
        Some(c.url("/api/guilds/42").as_str())
    );
    assert_eq!(b_client.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(b_client.attribute("http.response.status_code"), Some("200"));

    // Resource.
    assert_eq!(
        c_server.resource.get("service.version").unwrap(),
        "0.0.0-test"
    );
    assert_eq!(
        c_server
            .resource
            .get("deployment.environment.name")
            .unwrap(),
        "development"
    );
    assert!(c_server.resource.contains_key("host.name"));
    drop((a, b, c));
}

/// Sends `traceparent` (when given) to a leaf service and returns the trace
/// id of the response's `traceparent` and of the span the handler saw.
async fn call_leaf(service: &TestService, traceparent: Option<&str>) -> (String, String) {
    let mut request = testkit::http_client().get(service.url("/api/guilds/7"));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "a bad traceparent is never an error"
    );
    let header = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    (
        trace_id_of(&header).to_owned(),
        body["trace_id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_absent_traceparent_starts_a_new_trace() {
    let receiver = OtlpReceiver::start().await;
    let leaf = TestService::start(
        "svc-c",
        Some(receiver.endpoint()),
        fast_export(),
        leaf_routes,
    );

    let mut seen = Vec::new();
    for traceparent in [
        None,
        Some("garbage"),
        Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01"),
    ] {
        let (header_trace, handler_trace) = call_leaf(&leaf, traceparent).await;
        assert_eq!(header_trace, handler_trace);
        assert_eq!(header_trace.len(), 32);
        assert_ne!(header_trace, "0".repeat(32));
        assert_ne!(
            header_trace, PARENT_TRACE,
            "{traceparent:?} must not be trusted"
        );
        seen.push(header_trace);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "each request starts its own trace");

    let spans = receiver
        .wait_for(DEADLINE, "5 root spans", |spans| spans.len() >= 5)
        .await;
    assert!(
        spans.iter().all(|s| s.parent_span_id.is_none()),
        "new traces have root spans: {spans:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_exist_and_propagate_without_an_exporter() {
    let leaf = TestService::start("svc-c", None, TraceConfig::default(), leaf_routes);
    let relay = TestService::start(
        "svc-b",
        None,
        TraceConfig::default(),
        relay_routes(leaf.url("/api/guilds")),
    );
    assert!(relay.queue.is_none(), "no endpoint, no queue");

    let response = testkit::http_client()
        .get(relay.url("/relay/1"))
        .send()
        .await
        .unwrap();
    let header = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["trace_id"],
        trace_id_of(&header),
        "the trace id crosses services with no exporter configured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_collector_never_blocks_requests_and_drops_are_counted() {
    let failed_before = metrics::SPANS_DROPPED
        .with_label_values(&["export_failed"])
        .get();
    let config = TraceConfig {
        batch: BatchSettings {
            max_queue_size: 8,
            max_queue_bytes: BatchSettings::default().max_queue_bytes,
            max_export_batch_size: 4,
            schedule_delay: Duration::from_millis(20),
            export_timeout: Duration::from_secs(2),
        },
        shutdown_timeout: Duration::from_millis(500),
        ..TraceConfig::default()
    };
    let leaf = TestService::start("svc-c", Some(unreachable_endpoint()), config, leaf_routes);
    let queue = leaf.queue.clone().unwrap();

    for _ in 0..40 {
        call_leaf(&leaf, None).await;
        assert!(queue.len() <= queue.capacity(), "the queue is bounded");
    }

    testkit::poll_until(DEADLINE, "refused exports counted as drops", || {
        let failed = metrics::SPANS_DROPPED
            .with_label_values(&["export_failed"])
            .get();
        async move { (failed > failed_before).then_some(()) }
    })
    .await;
    let exposed = telemetry::metrics::encode().unwrap();
    assert!(
        exposed.contains("telemetry_spans_dropped_total{reason=\"export_failed\"}"),
        "the drop counter is exposed: {exposed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_collector_fills_the_bounded_queue_and_requests_are_still_answered() {
    let full_before = metrics::SPANS_DROPPED
        .with_label_values(&["queue_full"])
        .get();
    let receiver = OtlpReceiver::start().await;
    receiver.set_mode(Mode::Hang);
    let config = TraceConfig {
        batch: BatchSettings {
            max_queue_size: 8,
            max_queue_bytes: BatchSettings::default().max_queue_bytes,
            max_export_batch_size: 4,
            schedule_delay: Duration::from_millis(20),
            // Far longer than the test client's 10 s timeout: a request that
            // waited on the export would fail.
            export_timeout: Duration::from_secs(60),
        },
        shutdown_timeout: Duration::from_millis(200),
        ..TraceConfig::default()
    };
    let leaf = TestService::start("svc-c", Some(receiver.endpoint()), config, leaf_routes);
    let queue = leaf.queue.clone().unwrap();

    // The first batch leaves the queue and hangs in the exporter; the queue
    // then fills and further spans are dropped.
    call_leaf(&leaf, None).await;
    testkit::poll_until(DEADLINE, "an export to hang", || {
        let requests = receiver.requests();
        async move { (requests >= 1).then_some(()) }
    })
    .await;
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let start = std::time::Instant::now();
        call_leaf(&leaf, None).await;
        slowest = slowest.max(start.elapsed());
        assert!(queue.len() <= queue.capacity(), "the queue is bounded");
    }
    // Reported, not asserted (speed depends on the machine): each request
    // finished while the export it would wait for hangs for 60 s.
    eprintln!("slowest request while the collector hangs: {slowest:?}");

    assert_eq!(
        queue.len(),
        queue.capacity(),
        "the queue is full, not growing"
    );
    let dropped = metrics::SPANS_DROPPED
        .with_label_values(&["queue_full"])
        .get()
        - full_before;
    assert!(dropped >= 30 - 8, "drops counted: {dropped}");
    assert!(metrics::SPANS_QUEUED.get() >= 8);
}

/// Spans whose attributes are large fill `OTEL_BSP_MAX_QUEUE_BYTES` long
/// before `OTEL_BSP_MAX_QUEUE_SIZE`: the byte cap holds, and each span it
/// refuses is counted as `queue_bytes_full`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_spans_are_bounded_by_bytes_and_their_drops_counted() {
    let bytes_full_before = metrics::SPANS_DROPPED
        .with_label_values(&["queue_bytes_full"])
        .get();
    let receiver = OtlpReceiver::start().await;
    receiver.set_mode(Mode::Hang);
    let max_bytes = telemetry::trace::config::MIN_MAX_QUEUE_BYTES;
    let config = TraceConfig {
        batch: BatchSettings {
            max_queue_size: 2048,
            max_queue_bytes: max_bytes,
            max_export_batch_size: 4,
            schedule_delay: Duration::from_millis(20),
            export_timeout: Duration::from_secs(60),
        },
        shutdown_timeout: Duration::from_millis(200),
        ..TraceConfig::default()
    };
    let leaf = TestService::start("svc-c", Some(receiver.endpoint()), config, leaf_routes);
    let queue = leaf.queue.clone().unwrap();
    // Each server span holds at least its path (1 KiB once truncated) and
    // its user agent (256 bytes).
    let path = format!("/{}", "p".repeat(4096));
    let agent = "u".repeat(4096);
    let min_cost =
        telemetry::trace::limits::MAX_PATH_BYTES + telemetry::trace::limits::MAX_USER_AGENT_BYTES;
    let client = testkit::http_client();
    let request = || {
        client
            .get(leaf.url(&path))
            .header("user-agent", &agent)
            .send()
    };
    assert_eq!(request().await.unwrap().status(), 404);
    testkit::poll_until(DEADLINE, "an export to hang", || {
        let requests = receiver.requests();
        async move { (requests >= 1).then_some(()) }
    })
    .await;
    const REQUESTS: usize = 80;
    for _ in 0..REQUESTS {
        assert_eq!(request().await.unwrap().status(), 404);
        assert!(queue.bytes() <= queue.max_bytes(), "the byte cap holds");
    }
    let dropped = metrics::SPANS_DROPPED
        .with_label_values(&["queue_bytes_full"])
        .get()
        - bytes_full_before;
    let admitted_at_most = max_bytes / min_cost + 4;
    eprintln!(
        "queue: {} spans, {} of {} bytes; {dropped} dropped for bytes",
        queue.len(),
        queue.bytes(),
        queue.max_bytes()
    );
    assert!(
        dropped >= (REQUESTS - admitted_at_most) as u64,
        "drops counted: {dropped}"
    );
    assert!(
        queue.len() < queue.capacity(),
        "the count cap was never reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_flushes_buffered_spans() {
    let receiver = OtlpReceiver::start().await;
    let config = TraceConfig {
        batch: BatchSettings {
            // Nothing leaves on a timer during the test: only the flush.
            schedule_delay: Duration::from_secs(3600),
            ..BatchSettings::default()
        },
        shutdown_timeout: Duration::from_secs(5),
        ..TraceConfig::default()
    };
    let mut leaf = TestService::start("svc-c", Some(receiver.endpoint()), config, leaf_routes);
    let (trace_id, _) = call_leaf(&leaf, None).await;
    assert!(
        receiver.trace(&trace_id).is_empty(),
        "buffered until shutdown"
    );

    leaf.stop();

    let spans = receiver.trace(&trace_id);
    assert_eq!(spans.len(), 1, "flushed before stop returned: {spans:#?}");
    assert_eq!(spans[0].service_name, "svc-c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_grpc_too() {
    let receiver = OtlpReceiver::start().await;
    let config = TraceConfig {
        protocol: telemetry::trace::OtlpProtocol::Grpc,
        ..fast_export()
    };
    let exported_before = metrics::SPANS_EXPORTED.get();
    let leaf = TestService::start("svc-grpc", Some(receiver.endpoint()), config, leaf_routes);

    let (trace_id, _) = call_leaf(&leaf, None).await;

    let spans = receiver
        .wait_for(DEADLINE, "the span over gRPC", |spans| {
            spans.iter().any(|s| s.trace_id == trace_id)
        })
        .await;
    let span = spans.iter().find(|s| s.trace_id == trace_id).unwrap();
    assert_eq!(span.service_name, "svc-grpc");
    assert_eq!(span.name, "GET /api/guilds/{id}");
    testkit::poll_until(DEADLINE, "the export counted", || {
        let exported = metrics::SPANS_EXPORTED.get();
        async move { (exported > exported_before).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_calls_and_5xx_mark_spans_as_errors() {
    let receiver = OtlpReceiver::start().await;
    let relay = TestService::start(
        "svc-b",
        Some(receiver.endpoint()),
        fast_export(),
        relay_routes(format!("{}/api/guilds", unreachable_endpoint())),
    );

    let response = testkit::http_client()
        .get(relay.url("/relay/9"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 502);
    let trace_id = trace_id_of(response.headers()["traceparent"].to_str().unwrap()).to_owned();
    let spans = receiver
        .wait_for(DEADLINE, "server and client spans", |spans| {
            spans.iter().filter(|s| s.trace_id == trace_id).count() >= 2
        })
        .await;
    let server = find(&spans, "svc-b", "server");
    let client = find(&spans, "svc-b", "client");
    assert_eq!(server.status, "error", "5xx is a server error");
    assert_eq!(server.attribute("http.response.status_code"), Some("502"));
    assert_eq!(client.status, "error");
    assert_eq!(client.attribute("error.type"), Some("connect"));
    assert_eq!(client.attribute("http.response.status_code"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_command_is_the_parent_of_its_gateway_call_and_db_spans_are_clients() {
    use telemetry::trace::spans;
    use tracing::Instrument as _;

    let receiver = OtlpReceiver::start().await;
    let endpoint = Some(receiver.endpoint());
    let backend = TestService::start("svc-backend", endpoint.clone(), fast_export(), |_| {
        Router::new().route(
            "/api/guilds/{id}",
            get(|Path(id): Path<u64>| async move {
                async {}
                    .instrument(spans::db("sqlite", "SELECT", "guilds"))
                    .await;
                Json(json!({ "guild": id }))
            }),
        )
    });
    // The "bot": a command span around a call with the shared client.
    let upstream = backend.url("/api/guilds/5");
    let bot = TestService::start("svc-bot", endpoint, fast_export(), move |client| {
        Router::new().route(
            "/run",
            get(move || async move {
                let command = spans::discord_command("guild", Some(5));
                let status = client
                    .send(client.get(upstream))
                    .instrument(command)
                    .await
                    .unwrap()
                    .status();
                status.as_u16().to_string()
            }),
        )
    });

    let response = testkit::http_client()
        .get(bot.url("/run"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "200");

    let spans = receiver
        .wait_for(DEADLINE, "bot and backend spans", |spans| spans.len() >= 5)
        .await;
    let command = spans
        .iter()
        .find(|s| s.attribute("discord.command") == Some("guild"))
        .unwrap();
    assert_eq!(command.name, "discord command guild");
    assert_eq!(command.attribute("discord.guild.id"), Some("5"));
    let call = find(&spans, "svc-bot", "client");
    assert_eq!(call.parent_span_id.as_ref(), Some(&command.span_id));
    let db = spans.iter().find(|s| s.name == "SELECT guilds").unwrap();
    assert_eq!(db.kind, "client");
    assert_eq!(db.service_name, "svc-backend");
    assert_eq!(db.attribute("db.system.name"), Some("sqlite"));
    assert_eq!(db.attribute("db.operation.name"), Some("SELECT"));
    assert_eq!(db.attribute("db.collection.name"), Some("guilds"));
    let backend_server = find(&spans, "svc-backend", "server");
    assert_eq!(db.parent_span_id.as_ref(), Some(&backend_server.span_id));
    assert_eq!(backend_server.parent_span_id.as_ref(), Some(&call.span_id));
}
