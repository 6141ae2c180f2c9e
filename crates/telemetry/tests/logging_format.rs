//! Console (pretty, with and without colour) and JSON lines, as exact
//! expectations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use telemetry::{
    ServiceInfo,
    config::Environment,
    logging::{CapturedOutput, ConsoleLayer, ConsoleStyle, Redactor, ServiceMeta},
};
use tracing_subscriber::layer::SubscriberExt;

fn meta(name: &'static str) -> Arc<ServiceMeta> {
    Arc::new(ServiceMeta::with_host(
        ServiceInfo {
            name,
            version: "1.2.3",
        },
        Environment::Development,
        "testhost",
        42,
    ))
}

/// Runs `emit` with only a console layer in `style`; returns its lines.
fn console_lines(name: &'static str, style: ConsoleStyle, emit: impl FnOnce()) -> Vec<String> {
    let output = CapturedOutput::new();
    let layer = ConsoleLayer::new(output.clone(), style, meta(name), Redactor::default());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, emit);
    output.lines()
}

/// Splits `HH:MM:SS ` off a pretty line, checking its shape.
fn without_time(line: &str) -> &str {
    let (time, rest) = line.split_at(9);
    let bytes = time.as_bytes();
    assert!(
        bytes[2] == b':' && bytes[5] == b':' && bytes[8] == b' ',
        "time prefix in {line:?}"
    );
    assert!(
        time[..8]
            .replace(':', "")
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    rest
}

#[test]
fn pretty_line_without_colour() {
    let lines = console_lines("backend", ConsoleStyle::Pretty { color: false }, || {
        tracing::info!(
            context = "Bootstrap",
            port = 3000,
            ready = true,
            owner = "ana b",
            "Backend running on http://localhost:3000"
        );
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(
        without_time(&lines[0]),
        r#"[BACKEND] info [Bootstrap] Backend running on http://localhost:3000  port=3000 ready=true owner="ana b""#
    );
}

#[test]
fn pretty_line_with_colour_keeps_the_bracketed_badge() {
    let lines = console_lines("gateway", ConsoleStyle::Pretty { color: true }, || {
        tracing::warn!(context = "Proxy", "upstream slow");
        tracing::error!(context = "Proxy", "upstream down");
    });
    assert_eq!(
        without_time(&lines[0]),
        "\x1b[42;97m[GATEWAY]\x1b[0m \x1b[33mwarn\x1b[0m [Proxy] upstream slow"
    );
    assert_eq!(
        without_time(&lines[1]),
        "\x1b[42;97m[GATEWAY]\x1b[0m \x1b[31merror\x1b[0m [Proxy] upstream down"
    );
    // scripts/dev-all.sh finds a service's own lines by this text.
    assert!(lines.iter().all(|l| l.contains("[GATEWAY]")));
}

#[test]
fn context_falls_back_to_span_name_then_target() {
    let lines = console_lines("bot", ConsoleStyle::Pretty { color: false }, || {
        tracing::debug!(target: "bot::commands::ping", "pong");
        let span = tracing::info_span!("DiscordService", guild_id = 449_506_572_624_986_122_u64);
        let _entered = span.enter();
        tracing::info!(latency_ms = 12.5, "heartbeat");
    });
    assert_eq!(without_time(&lines[0]), "[BOT] debug [ping] pong");
    assert_eq!(
        without_time(&lines[1]),
        "[BOT] info [DiscordService] heartbeat  latency_ms=12.5 guild_id=449506572624986122"
    );
}

#[test]
fn json_line_has_the_fields_in_order_with_their_types() {
    let lines = console_lines("backend", ConsoleStyle::Json, || {
        let span = tracing::info_span!("request", request_id = "r-1", user_id = 1);
        let _entered = span.enter();
        tracing::info!(
            context = "Users",
            user_id = 7_u64,
            ratio = 0.5,
            ok = true,
            name = "ana",
            "user created"
        );
    });
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    let timestamp = value["timestamp"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(timestamp).unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
    assert!(
        (chrono::Utc::now() - parsed.with_timezone(&chrono::Utc))
            .num_seconds()
            .abs()
            < 60
    );
    // The event's user_id wins over the span's.
    assert_eq!(
        line.replace(timestamp, "T"),
        r#"{"timestamp":"T","level":"info","message":"user created","context":"Users","service":"backend","version":"1.2.3","hostname":"testhost","pid":42,"user_id":7,"ratio":0.5,"ok":true,"name":"ana","request_id":"r-1"}"#
    );
}

#[test]
fn json_escapes_and_keeps_reserved_names_apart() {
    let lines = console_lines("backend", ConsoleStyle::Json, || {
        tracing::info!(level = "custom", quote = "a\"b\nc", "multi\nline");
    });
    let value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(value["level"], "info");
    assert_eq!(value["field_level"], "custom");
    assert_eq!(value["quote"], "a\"b\nc");
    assert_eq!(value["message"], "multi\nline");
    assert_eq!(lines.len(), 1, "one line per event, even with newlines");
}

#[test]
fn log_crate_records_are_captured() {
    let output = CapturedOutput::new();
    let layer = ConsoleLayer::new(
        output.clone(),
        ConsoleStyle::Json,
        meta("backend"),
        Redactor::default(),
    );
    tracing_log::LogTracer::init().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing_log::log::warn!(target: "sqlx::query", "slow statement");
    });
    let value: serde_json::Value = serde_json::from_str(&output.lines()[0]).unwrap();
    assert_eq!(value["level"], "warn");
    assert_eq!(value["message"], "slow statement");
    assert_eq!(value["context"], "query");
    assert!(value.get("log.target").is_none());
}

/// The decision reads the environment; each case runs [`colour_probe`] in
/// a child process so this process's environment is never modified.
#[test]
fn colour_follows_no_color_then_force_color_then_terminal() {
    let cases: [(&[(&str, &str)], bool); 4] = [
        (&[("NO_COLOR", "1"), ("FORCE_COLOR", "1")], false),
        (&[("FORCE_COLOR", "1")], true),
        (&[("FORCE_COLOR", "0")], false),
        (&[], false), // not a terminal
    ];
    for (env, expected) in cases {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "colour_probe", "--include-ignored", "--quiet"])
            .env_remove("NO_COLOR")
            .env_remove("FORCE_COLOR")
            .env("COLOUR_PROBE_EXPECT", expected.to_string());
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success() && String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "{env:?} should give colour={expected}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// Run by the test above in a child process with the variables set.
#[test]
#[ignore = "run by colour_follows_no_color_then_force_color_then_terminal"]
fn colour_probe() {
    let expected: bool = std::env::var("COLOUR_PROBE_EXPECT")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(telemetry::logging::console::color_from_env(false), expected);
}

#[test]
fn trace_ids_come_from_the_opentelemetry_layer() {
    use opentelemetry::trace::TracerProvider as _;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let json = CapturedOutput::new();
    let pretty = CapturedOutput::new();
    let subscriber = tracing_subscriber::registry()
        .with(otel)
        .with(ConsoleLayer::new(
            json.clone(),
            ConsoleStyle::Json,
            meta("backend"),
            Redactor::default(),
        ))
        .with(ConsoleLayer::new(
            pretty.clone(),
            ConsoleStyle::Pretty { color: false },
            meta("backend"),
            Redactor::default(),
        ));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span");
        let span = tracing::info_span!("handler");
        let _entered = span.enter();
        tracing::info!("inside");
    });
    let lines: Vec<serde_json::Value> = json
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines[0].get("trace_id").is_none());
    let trace_id = lines[1]["trace_id"].as_str().unwrap();
    let span_id = lines[1]["span_id"].as_str().unwrap();
    assert_eq!((trace_id.len(), span_id.len()), (32, 16));
    assert!(trace_id.chars().all(|c| c.is_ascii_hexdigit()) && trace_id != "0".repeat(32));
    let pretty = pretty.lines();
    assert!(!pretty[0].contains("trace="));
    assert!(
        pretty[1].ends_with(&format!("[handler] inside  trace={}", &trace_id[..8])),
        "{}",
        pretty[1]
    );
}

#[test]
fn no_trace_ids_without_an_opentelemetry_layer() {
    let lines = console_lines("backend", ConsoleStyle::Json, || {
        let span = tracing::info_span!("handler");
        let _entered = span.enter();
        tracing::info!("inside");
    });
    assert!(!lines[0].contains("trace_id"), "{}", lines[0]);
}
