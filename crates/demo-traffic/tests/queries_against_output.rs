//! The cookbook, the dashboards and the Loki rules against what the services
//! really write. The three services run as real processes shipping JSON lines
//! to an in-test Loki; demo-traffic drives the gateway (slow requests, an
//! upstream timeout, a database failure, moderation actions, events, the
//! bot commands' calls); the bot's commands run through the bot's own code
//! (no Discord here) with the bot's telemetry. Then every LogQL query of
//! docs/*.md, the Grafana dashboards and the Loki rules is parsed with
//! Grafana's grammar and held against the captured lines
//! (`infrastructure/checks/against-output.mjs`): each must select lines, and
//! every field it names must exist. Every logs-dashboard panel therefore
//! shows something after a run.
//!
//! Its own test binary: it installs the process-wide subscriber (the bot's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bot::{
    clients::GatewayClient,
    commands::{self, Invocation, Outcome, modlog, ping, stats, warn},
};
use demo_traffic::{Args, plan::guild_id, run::run};
use telemetry::{TelemetryConfig, config::LogFormat};
use testkit::{Service, ServiceBuilder, loki::LokiReceiver};

const KEY: &str = "demo-key";
/// Short, so the stalled requests do not make the run long.
const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(1500);
const DEADLINE: Duration = Duration::from_secs(30);

fn shipping(service: ServiceBuilder, loki: &LokiReceiver) -> ServiceBuilder {
    service
        .env("LOG_FORMAT", "json")
        .env("LOKI_URL", loki.url())
        .env("LOKI_BATCH_INTERVAL", "100ms")
}

fn stop(mut service: Service) {
    service.signal("TERM");
    let status = service.wait_exit(DEADLINE);
    assert!(status.success(), "{} exited {status}", service.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_logql_query_selects_lines_the_services_wrote() {
    if !testkit::logql::available() {
        return;
    }
    let loki = LokiReceiver::start().await;
    let database = std::env::temp_dir().join(format!("queries-{}.db", std::process::id()));
    let mut backend = shipping(ServiceBuilder::new("backend"), &loki)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", database.display()),
        )
        .spawn();
    backend.wait_for_status("/ready", 200).await;
    let mut gateway = shipping(ServiceBuilder::new("gateway"), &loki)
        .env("BACKEND_URL", backend.url(""))
        .env("GATEWAY_API_KEYS", KEY)
        .env(
            "UPSTREAM_TIMEOUT_MS",
            UPSTREAM_TIMEOUT.as_millis().to_string(),
        )
        .spawn();
    gateway.wait_for_status("/ready", 200).await;
    let mut bot_process = shipping(ServiceBuilder::new("bot"), &loki)
        .env("GATEWAY_URL", gateway.url(""))
        .env("GATEWAY_API_KEY", KEY)
        .spawn();
    bot_process.wait_for_status("/live", 200).await;

    // Every kind of request is sent once first, whatever the duration.
    let args = Args {
        gateway_url: gateway.url(""),
        api_key: KEY.to_owned(),
        duration: Duration::from_secs(4),
        rate: 20.0,
        guilds: 3,
        upstream_timeout: UPSTREAM_TIMEOUT,
        ..Args::default()
    };
    let summary = run(&args, |_| {}).await.unwrap();
    println!("{summary}");
    let caused = summary.caused;
    assert!(caused.server_errors >= 2, "{summary}");
    assert!(summary.by_status.contains_key("504"), "{summary}");
    assert!(summary.by_status.contains_key("503"), "{summary}");
    assert!(caused.client_errors > 0, "{summary}");
    assert!(caused.slow > 0, "{summary}");
    assert!(caused.moderation_actions > 0, "{summary}");
    assert!(caused.events > 0, "{summary}");
    assert!(caused.command_calls > 0, "{summary}");

    // The bot's commands, as Discord would trigger them.
    let mut config = TelemetryConfig::from_env().unwrap();
    config.logging.format = LogFormat::Json;
    config.logging.filter = Some("debug".to_owned());
    config.logging.loki.url = Some(loki.url());
    let telemetry = telemetry::init(bot::SERVICE, config).unwrap();
    let client = GatewayClient::new(&gateway.url(""), KEY).unwrap();
    let guild = guild_id(0);
    let (moderator, member) = (guild + 10_000_001, guild + 10_000_002);
    let invocation = |command| Invocation {
        command,
        guild_id: Some(guild),
        user_id: moderator,
    };
    let replies = [
        commands::instrumented(invocation("ping"), async {
            ping::ping(0, Some(Duration::from_millis(42)))
        })
        .await,
        commands::instrumented(invocation("stats"), stats::stats(&client, guild)).await,
        commands::instrumented(
            invocation("warn"),
            warn::warn(
                &client,
                warn::WarnRequest {
                    guild_id: guild,
                    moderator_id: moderator,
                    target_id: member,
                    target_is_bot: false,
                    reason: "spam in #general",
                },
            ),
        )
        .await,
        commands::instrumented(invocation("modlog"), modlog::modlog(&client, guild, member)).await,
    ];
    for reply in &replies {
        assert_eq!(reply.outcome, Outcome::Ok, "{reply:?}");
    }
    // A moderator's mistake: the command refuses it (outcome `invalid`).
    let refused = commands::instrumented(
        invocation("warn"),
        warn::warn(
            &client,
            warn::WarnRequest {
                guild_id: guild,
                moderator_id: moderator,
                target_id: moderator,
                target_is_bot: false,
                reason: "self",
            },
        ),
    )
    .await;
    assert_eq!(refused.outcome, Outcome::Invalid, "{refused:?}");
    telemetry.shutdown().await;

    // A graceful stop flushes every service's last lines.
    stop(bot_process);
    stop(gateway);
    stop(backend);
    let _ = std::fs::remove_file(&database);
    let entries = loki.entries();
    for app in ["backend", "gateway", "bot"] {
        assert!(
            entries.iter().any(|e| e.labels["app"] == app),
            "no line from {app}"
        );
    }

    // Each traced line carries its ids as structured metadata too, the same
    // as in the JSON (what Grafana's derived field reads).
    let traced: Vec<_> = entries
        .iter()
        .filter(|e| e.json()["trace_id"].is_string())
        .collect();
    assert!(traced.len() > 10, "{} traced lines", traced.len());
    for entry in &traced {
        let json = entry.json();
        for id in ["trace_id", "span_id"] {
            assert_eq!(
                entry.structured_metadata.get(id).map(String::as_str),
                json[id].as_str(),
                "{id} in structured metadata: {}",
                entry.line
            );
        }
    }
    assert!(
        entries
            .iter()
            .filter(|e| !e.json()["trace_id"].is_string())
            .all(|e| e.structured_metadata.is_empty()),
        "untraced lines carry no metadata"
    );

    let verdict = testkit::logql::hold_queries_against(&entries);
    println!("{}", verdict.stdout);
    assert!(verdict.ok, "{}", verdict.stderr);
}
