//! One bot command, one trace: `/warn` runs through the bot's command logic
//! (in this process, with the bot's telemetry installed; no Discord), then
//! the real gateway and backend processes and the database. The spans of all
//! three services reach an OTLP receiver as a single trace with correct
//! parent/child links, and the JSON log lines of all three services, shipped
//! to a Loki receiver, carry that trace's id.
//!
//! Its own test binary: it installs the process-wide subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use bot::{
    clients::GatewayClient,
    commands::{self, Outcome, warn},
};
use support::stack::{self, GUILD, KEY, MEMBER, MODERATOR};
use telemetry::{TelemetryConfig, config::LogFormat};
use testkit::{
    ServiceBuilder,
    loki::{LokiReceiver, ReceivedEntry},
    otlp::{OtlpReceiver, ReceivedSpan},
};

const DEADLINE: Duration = Duration::from_secs(20);

fn with_telemetry(
    service: ServiceBuilder,
    loki: &LokiReceiver,
    otlp: &OtlpReceiver,
) -> ServiceBuilder {
    service
        .env("LOG_FORMAT", "json")
        .env("LOKI_URL", loki.url())
        .env("LOKI_BATCH_INTERVAL", "100ms")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
}

fn bot_telemetry(loki: &LokiReceiver, otlp: &OtlpReceiver) -> TelemetryConfig {
    let mut config = TelemetryConfig::from_env().unwrap();
    config.logging.format = LogFormat::Json;
    config.logging.filter = Some("info".to_owned());
    config.logging.loki.url = Some(loki.url());
    config.tracing.endpoint = Some(otlp.endpoint());
    config.tracing.batch.schedule_delay = Duration::from_millis(50);
    config
}

fn trace_ids_of(entries: &[ReceivedEntry], app: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|entry| entry.labels.get("app").map(String::as_str) == Some(app))
        .filter_map(|entry| entry.json()["trace_id"].as_str().map(str::to_owned))
        .collect()
}

fn span<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.service_name == service && s.name == name)
        .unwrap_or_else(|| {
            let seen: Vec<_> = spans
                .iter()
                .map(|s| format!("{}:{}", s.service_name, s.name))
                .collect();
            panic!("no {service} span named {name:?}; trace has {seen:?}")
        })
}

/// `child`'s parent is `parent`, or a span of the same service under it
/// (an internal span in between is fine; a parent in another trace is not).
fn assert_descends(spans: &[ReceivedSpan], child: &ReceivedSpan, parent: &ReceivedSpan) {
    let mut current = child;
    loop {
        let parent_id = current
            .parent_span_id
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no parent, expected {}", child.name, parent.name));
        if parent_id == parent.span_id {
            return;
        }
        current = spans
            .iter()
            .find(|s| s.span_id == parent_id)
            .unwrap_or_else(|| panic!("{}'s parent {parent_id} is not in the trace", current.name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_is_one_trace_across_the_three_services_and_their_logs() {
    let loki = LokiReceiver::start().await;
    let otlp = OtlpReceiver::start().await;
    let stack = stack::start("bot-trace-e2e", |service| {
        with_telemetry(service, &loki, &otlp)
    })
    .await;
    let telemetry = telemetry::init(bot::SERVICE, bot_telemetry(&loki, &otlp)).unwrap();

    let client = GatewayClient::new(&stack.gateway.url(""), KEY).unwrap();
    let reply = commands::instrumented(
        commands::Invocation {
            command: "warn",
            guild_id: Some(GUILD),
            user_id: MODERATOR,
        },
        warn::warn(
            &client,
            warn::WarnRequest {
                guild_id: GUILD,
                moderator_id: MODERATOR,
                target_id: MEMBER,
                target_is_bot: false,
                reason: "flooding #general",
            },
        ),
    )
    .await;
    assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
    // Flushes the bot's spans and log lines, as at the bot's shutdown.
    telemetry.shutdown().await;

    let root = otlp
        .wait_for(DEADLINE, "the bot's command span", |spans| {
            spans
                .iter()
                .any(|s| s.service_name == "bot" && s.name == "discord command warn")
        })
        .await
        .into_iter()
        .find(|s| s.service_name == "bot" && s.name == "discord command warn")
        .unwrap();
    assert_eq!(root.parent_span_id, None, "the command starts the trace");
    assert_eq!(root.attribute("discord.command"), Some("warn"));
    assert_eq!(
        root.attribute("discord.guild.id"),
        Some("81384788765712384")
    );
    let trace = otlp
        .wait_for(DEADLINE, "the six spans of the trace", |spans| {
            // Each service exports a span when it ends: wait for the outer
            // ones too, which end after their children.
            let has = |service: &str, kind: &str| {
                spans.iter().any(|s| {
                    s.trace_id == root.trace_id && s.service_name == service && s.kind == kind
                })
            };
            has("bot", "client")
                && has("gateway", "server")
                && has("gateway", "client")
                && has("backend", "server")
                && spans.iter().any(|s| {
                    s.trace_id == root.trace_id
                        && s.attribute("db.operation.name") == Some("INSERT")
                })
        })
        .await
        .into_iter()
        .filter(|s| s.trace_id == root.trace_id)
        .collect::<Vec<_>>();

    let services: BTreeSet<&str> = trace.iter().map(|s| s.service_name.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["backend", "bot", "gateway"]),
        "{trace:#?}"
    );
    assert!(trace.len() >= 4, "{} spans: {trace:#?}", trace.len());
    // bot command → bot client call → gateway server → gateway client call
    // → backend server → database INSERT.
    let bot_call = span(&trace, "bot", "POST");
    let gateway_server = trace
        .iter()
        .find(|s| s.service_name == "gateway" && s.kind == "server")
        .expect("gateway server span");
    let gateway_call = span(&trace, "gateway", "POST");
    let backend_server = span(&trace, "backend", "POST /api/guilds/{id}/moderation");
    let insert = trace
        .iter()
        .find(|s| s.service_name == "backend" && s.attribute("db.operation.name") == Some("INSERT"))
        .unwrap();
    assert_eq!(bot_call.kind, "client");
    assert_eq!(gateway_call.kind, "client");
    assert_eq!(insert.kind, "client");
    assert_descends(&trace, bot_call, &root);
    assert_eq!(
        gateway_server.parent_span_id.as_deref(),
        Some(bot_call.span_id.as_str())
    );
    assert_descends(&trace, gateway_call, gateway_server);
    assert_eq!(
        backend_server.parent_span_id.as_deref(),
        Some(gateway_call.span_id.as_str())
    );
    assert_descends(&trace, insert, backend_server);
    assert_eq!(
        backend_server.attribute("http.response.status_code"),
        Some("201")
    );

    // The JSON lines of each service for this action carry the trace id.
    let trace_id = root.trace_id.clone();
    let completed_in_trace = |entries: &[ReceivedEntry]| {
        entries
            .iter()
            .filter(|e| e.json()["trace_id"].as_str() == Some(trace_id.as_str()))
            .filter(|e| {
                e.json()["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("completed in"))
            })
            .filter_map(|e| e.labels.get("app").cloned())
            .collect::<BTreeSet<_>>()
    };
    // Each HTTP service logs the request's completion in the trace; the bot
    // logs the command's.
    let entries = testkit::poll_until(DEADLINE, "every service's log lines in Loki", || {
        let entries = loki.entries();
        let done = trace_ids_of(&entries, "bot").contains(&trace_id)
            && completed_in_trace(&entries) == BTreeSet::from(["backend".into(), "gateway".into()]);
        async move { done.then_some(entries) }
    })
    .await;
    for entry in entries
        .iter()
        .filter(|e| e.json()["trace_id"].as_str() == Some(trace_id.as_str()))
    {
        let json = entry.json();
        let directives: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|object| object.keys())
            .filter(|key| key.starts_with("otel."))
            .collect();
        assert!(
            directives.is_empty(),
            "OpenTelemetry directives in a log line: {directives:?}"
        );
        let span_id = json["span_id"].as_str().map(str::to_owned);
        assert!(
            span_id.is_some_and(|id| trace.iter().any(|s| s.span_id == id)),
            "a line's span_id is one of the trace's spans: {}",
            entry.line
        );
    }
    // A clean run logs no error anywhere (a startup error would hide here).
    let errors: Vec<_> = entries
        .iter()
        .filter(|e| e.labels.get("level").map(String::as_str) == Some("error"))
        .map(|e| e.line.as_str())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // Console JSON carries the same id (what `kubectl logs` shows).
    assert!(
        stack
            .backend
            .stdout
            .lines()
            .iter()
            .any(|line| line.contains(&trace_id)),
        "backend stdout has no line with {trace_id}"
    );
}
