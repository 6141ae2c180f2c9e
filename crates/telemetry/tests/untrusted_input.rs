//! What a request controls cannot inflate or leak through telemetry: the
//! whole pipeline of a service (console pretty and JSON, Loki push to the
//! in-test receiver, OTLP export to the in-test collector, `/health`) in
//! one process, on a current-thread runtime with a thread-default
//! subscriber, so every task of the service reaches these layers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::get, routing::post};
use opentelemetry::KeyValue;
use telemetry::{
    Ops, OpsConfig, ServiceInfo,
    config::Environment,
    health::{Criticality, http_check},
    logging::{
        CapturedOutput, ConsoleLayer, ConsoleStyle, Redactor, ServiceMeta,
        loki::{self, LokiConfig, LokiShipper},
    },
    trace::{ProviderSettings, TraceConfig, Tracing, config::BatchSettings, limits, propagation},
};
use testkit::{
    loki::{LokiReceiver, ReceivedEntry},
    otlp::{OtlpReceiver, ReceivedSpan},
    poll_until,
};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const DEADLINE: Duration = Duration::from_secs(20);
const SERVICE: ServiceInfo = ServiceInfo {
    name: "backend",
    version: "0.0.0-test",
};

/// A service's telemetry, wired as `telemetry::init` wires it, with both
/// console styles captured.
struct Pipeline {
    pretty: CapturedOutput,
    json: CapturedOutput,
    loki: LokiReceiver,
    otlp: OtlpReceiver,
    shipper: Option<LokiShipper>,
    tracing: Option<Tracing>,
    _default: tracing::subscriber::DefaultGuard,
}

impl Pipeline {
    async fn start() -> Self {
        propagation::install_propagator();
        let loki = LokiReceiver::start().await;
        let otlp = OtlpReceiver::start().await;
        let meta = Arc::new(ServiceMeta::with_host(
            SERVICE,
            Environment::Staging,
            "host",
            1,
        ));
        let redactor = Redactor::default();
        let config = TraceConfig {
            batch: BatchSettings {
                schedule_delay: Duration::from_millis(50),
                ..BatchSettings::default()
            },
            ..TraceConfig::default()
        };
        let endpoint = otlp.endpoint();
        let tracing = Tracing::build(&ProviderSettings {
            service: SERVICE,
            environment: Environment::Staging,
            endpoint: Some(&endpoint),
            config: &config,
            redactor: redactor.clone(),
        })
        .unwrap();
        let loki_config = LokiConfig {
            batch_interval: Duration::from_millis(50),
            ..LokiConfig::default()
        };
        let (loki_layer, shipper) = loki::start(
            &loki.url(),
            &loki_config,
            Arc::clone(&meta),
            redactor.clone(),
            Arc::new(|_, message| eprintln!("shipper: {message}")),
        )
        .unwrap();
        let pretty = CapturedOutput::new();
        let json = CapturedOutput::new();
        let subscriber = tracing_subscriber::registry()
            .with(tracing.layer())
            .with(ConsoleLayer::new(
                pretty.clone(),
                ConsoleStyle::Pretty { color: false },
                Arc::clone(&meta),
                redactor.clone(),
            ))
            .with(ConsoleLayer::new(
                json.clone(),
                ConsoleStyle::Json,
                meta,
                redactor,
            ))
            .with(loki_layer);
        Self {
            pretty,
            json,
            loki,
            otlp,
            shipper: Some(shipper),
            tracing: Some(tracing),
            _default: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Serves `router` with the services' two layers on a loopback port.
    async fn serve(&self, router: Router) -> String {
        let app = router
            .layer(telemetry::http::layer())
            .layer(telemetry::trace::layer());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    /// Waits for the request's completion line in Loki and for its server
    /// span at the collector, then flushes and stops both exports.
    async fn finish(mut self) -> (Self, Vec<ReceivedEntry>, Vec<ReceivedSpan>) {
        let entries = poll_until(DEADLINE, "the completion line in Loki", || {
            let entries = self.loki.entries();
            async move {
                entries
                    .iter()
                    .any(|entry| entry.line.contains("completed in"))
                    .then_some(entries)
            }
        })
        .await;
        let spans = poll_until(DEADLINE, "the server span at the collector", || {
            let spans = self.otlp.spans();
            async move { spans.iter().any(|s| s.kind == "server").then_some(spans) }
        })
        .await;
        if let Some(shipper) = self.shipper.take() {
            shipper.shutdown().await;
        }
        if let Some(tracing) = self.tracing.take() {
            tracing.shutdown().await;
        }
        (self, entries, spans)
    }
}

#[tokio::test]
async fn an_oversized_user_agent_and_path_give_bounded_lines_and_spans() {
    let pipeline = Pipeline::start().await;
    let router = Router::new().route(
        "/items/{id}",
        get(|| async {
            tracing::info!("item read");
            "ok"
        }),
    );
    let base = pipeline.serve(router).await;
    let user_agent = "u".repeat(300 * 1024);
    let path = format!("/items/{}", "p".repeat(20 * 1024));
    let response = testkit::http_client()
        .get(format!("{base}{path}"))
        .header("user-agent", &user_agent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let (pipeline, entries, spans) = pipeline.finish().await;
    // One line for the handler's event, one for the completion, in each
    // output; each carries the server span's fields, bounded.
    const LINE_BOUND: usize = 4096;
    let json_lines = pipeline.json.lines();
    let pretty_lines = pipeline.pretty.lines();
    for (output, lines) in [("json", &json_lines), ("pretty", &pretty_lines)] {
        let with_agent: Vec<&String> = lines
            .iter()
            .filter(|line| line.contains("uuuuuuuu"))
            .collect();
        assert_eq!(with_agent.len(), 2, "{output}: {lines:?}");
        for line in with_agent {
            assert!(
                line.len() < LINE_BOUND,
                "{output} line of {} bytes",
                line.len()
            );
            assert!(
                line.contains(&format!("{}…", "u".repeat(256))),
                "{output}: {line}"
            );
        }
    }
    let request_entries: Vec<&ReceivedEntry> = entries
        .iter()
        .filter(|entry| entry.line.contains("uuuuuuuu"))
        .collect();
    assert_eq!(request_entries.len(), 2, "{entries:?}");
    for entry in &request_entries {
        assert!(
            entry.line.len() < LINE_BOUND,
            "Loki line of {} bytes",
            entry.line.len()
        );
    }
    let server = spans.iter().find(|span| span.kind == "server").unwrap();
    let agent = server.attribute("user_agent.original").unwrap();
    assert_eq!(
        agent,
        format!("{}…", "u".repeat(limits::MAX_USER_AGENT_BYTES))
    );
    let url_path = server.attribute("url.path").unwrap();
    assert!(url_path.starts_with("/items/ppp") && url_path.ends_with('…'));
    assert_eq!(url_path.len(), limits::MAX_PATH_BYTES + "…".len());
    assert!(
        server.encoded_bytes < LINE_BOUND,
        "span of {} bytes",
        server.encoded_bytes
    );
    eprintln!(
        "input: user agent {} B, path {} B; output: json line {} B, pretty line {} B, \
         Loki line {} B, exported span {} B",
        user_agent.len(),
        path.len(),
        json_lines.iter().map(String::len).max().unwrap_or(0),
        pretty_lines.iter().map(String::len).max().unwrap_or(0),
        request_entries
            .iter()
            .map(|e| e.line.len())
            .max()
            .unwrap_or(0),
        server.encoded_bytes,
    );
}

const SECRET: &str = "s3cr3t-Zq9xW";

/// Logs and records the secret every way a handler might: fields under
/// sensitive names, a JSON body, a URL with credentials in a field and in
/// the message, a span field, a span attribute and a span event.
async fn login(body: String) -> &'static str {
    let dsn = format!("postgres://app:{SECRET}@db:5432/app");
    let span = tracing::info_span!(
        "verify credentials",
        client_secret = SECRET,
        user.email = "ana@example.com",
    );
    async {
        tracing::info!(
            client_secret = SECRET,
            password = SECRET,
            apiKey = SECRET,
            "x-api-key" = SECRET,
            cookie = SECRET,
            database_url = %dsn,
            upstream = %dsn,
            body = %body,
            "connecting to {dsn}"
        );
        let current = tracing::Span::current();
        current.set_attribute("accessToken", SECRET.to_owned());
        current.set_attribute("db.connection", dsn.clone());
        current.add_event(
            "token issued",
            vec![
                KeyValue::new("refresh_token", SECRET),
                KeyValue::new("detail", format!("via {dsn}")),
            ],
        );
    }
    .instrument(span)
    .await;
    "ok"
}

#[tokio::test]
async fn a_secret_reaches_no_log_line_span_or_health_detail() {
    let pipeline = Pipeline::start().await;
    let dead = testkit::free_port();
    let ops = Ops::new(SERVICE, &OpsConfig::default()).with_check(http_check(
        "upstream",
        format!("http://svc:{SECRET}@127.0.0.1:{dead}/live"),
        Criticality::Critical,
    ));
    let router = Router::new()
        .route("/login", post(login))
        .merge(ops.router());
    let base = pipeline.serve(router).await;
    let client = testkit::http_client();
    let response = client
        .post(format!("{base}/login"))
        .header("authorization", format!("Bearer {SECRET}"))
        .header("proxy-authorization", format!("Basic {SECRET}"))
        .header("x-api-key", SECRET)
        .header("cookie", format!("session={SECRET}"))
        .body(format!(
            r#"{{"user":"ana","client_secret":"{SECRET}","nested":{{"password":"{SECRET}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let (pipeline, entries, spans) = pipeline.finish().await;
    let pretty = pipeline.pretty.text();
    let json = pipeline.json.text();
    let loki = format!("{entries:?}");
    let otlp = format!("{spans:?}");
    // The events and spans really are there, with their fields redacted.
    assert!(
        pretty.contains("connecting to postgres://REDACTED:REDACTED@db:5432/app"),
        "{pretty}"
    );
    assert!(
        json.contains(r#""client_secret":"***REDACTED***""#),
        "{json}"
    );
    assert!(
        json.contains("@example.com") && !json.contains("ana@example.com"),
        "{json}"
    );
    let verify = spans
        .iter()
        .find(|s| s.name == "verify credentials")
        .unwrap();
    assert_eq!(verify.attribute("client_secret"), Some("***REDACTED***"));
    assert_eq!(verify.attribute("accessToken"), Some("***REDACTED***"));
    assert_eq!(verify.events.len(), 1, "{verify:?}");
    assert_eq!(
        verify.events[0].attributes["refresh_token"],
        "***REDACTED***"
    );
    for (output, text) in [
        ("console pretty", &pretty),
        ("console JSON", &json),
        ("Loki", &loki),
        ("OTLP spans", &otlp),
        ("/health", &health),
    ] {
        assert!(!text.contains(SECRET), "{output} leaks the secret:\n{text}");
        assert!(
            !text.contains("ana@example.com"),
            "{output} leaks the e-mail:\n{text}"
        );
    }
}
