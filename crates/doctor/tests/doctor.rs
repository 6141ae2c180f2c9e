//! `make doctor` against the real services (spawned from their binaries),
//! a real Prometheus and Alertmanager (Debian binaries), PostgreSQL, and
//! in-test peers speaking the Loki, OTLP/Tempo and Grafana HTTP APIs: all
//! green on a healthy setup, and the ✘ line and hint of each typical
//! failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use support::{Grafana, doctor, repo};
use testkit::alertmanager::Alertmanager;
use testkit::{
    Service, ServiceBuilder,
    loki::{LokiMode, LokiReceiver},
    otlp::{OtlpReceiver, unreachable_endpoint},
    postgres::PgCluster,
    prometheus::{Prometheus, ScrapeJob, scrape_config, tools_available},
};

const DEADLINE: Duration = Duration::from_secs(60);

/// The three services shipping logs to `loki` and spans to `otlp`.
struct Services {
    backend: Service,
    gateway: Service,
    bot: Service,
}

impl Services {
    async fn start(database_url: &str, loki: &str, otlp: &str) -> Self {
        let with_telemetry = |name: &str| {
            ServiceBuilder::new(name)
                .env("LOKI_URL", loki)
                .env("LOKI_BATCH_INTERVAL", "200ms")
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        };
        let mut backend = with_telemetry("backend")
            .env("DATABASE_URL", database_url)
            .spawn();
        backend.wait_for_status("/ready", 200).await;
        let mut gateway = with_telemetry("gateway")
            .env("BACKEND_URL", backend.url(""))
            .spawn();
        gateway.wait_for_status("/ready", 200).await;
        let mut bot = with_telemetry("bot")
            .env("GATEWAY_URL", gateway.url(""))
            .spawn();
        bot.wait_live().await;
        Self {
            backend,
            gateway,
            bot,
        }
    }
}

fn sqlite_dir(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("doctor-{test}-{}", std::process::id()))
}

fn sqlite_url(test: &str) -> String {
    format!(
        "sqlite://{}/backend.db?mode=rwc",
        sqlite_dir(test).display()
    )
}

fn rule_files() -> Vec<PathBuf> {
    let dir = repo().join("infrastructure/prometheus/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "yml"))
        .map(|path| path.canonicalize().unwrap())
        .collect();
    files.sort();
    files
}

fn with_alertmanager(config: String, port: u16) -> String {
    format!(
        "{config}alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{port}\"]\n"
    )
}

/// Polls Prometheus' API `path` until `ready` holds for its `data`.
async fn wait_for_api(
    prometheus: &Prometheus,
    path: &str,
    what: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) {
    let client = testkit::http_client();
    let url = prometheus.url(path);
    testkit::poll_until(DEADLINE, what, || {
        let (client, url) = (client.clone(), url.clone());
        let ready = &ready;
        async move {
            let body: serde_json::Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            ready(&body["data"]).then_some(())
        }
    })
    .await;
}

fn env(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn statuses(json: &serde_json::Value) -> BTreeMap<String, String> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| {
            (
                check["name"].as_str().unwrap().to_owned(),
                check["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_setup_is_all_green_and_each_fault_names_its_fix() {
    if !tools_available() {
        return;
    }
    if !testkit::alertmanager::available() {
        return;
    }
    let loki = LokiReceiver::start().await;
    let otlp = OtlpReceiver::start().await;
    let services = Services::start(&sqlite_url("healthy"), &loki.url(), &otlp.endpoint()).await;
    let alertmanager = Alertmanager::start(&[]).await;
    let grafana = Grafana::start("admin", "s3cret").await;
    let mut jobs = vec![
        ScrapeJob::new("backend", services.backend.port),
        ScrapeJob::new("gateway", services.gateway.port),
        ScrapeJob::new("bot", services.bot.port),
    ];
    jobs.push(ScrapeJob::new("alertmanager", alertmanager.port));
    let config = with_alertmanager(scrape_config("1s", &jobs, &rule_files()), alertmanager.port);
    let prometheus = Prometheus::start(&config).await;
    prometheus
        .wait_for_targets_up(&["backend", "gateway", "bot", "alertmanager"], DEADLINE)
        .await;
    wait_for_api(
        &prometheus,
        "/api/v1/alertmanagers",
        "an Alertmanager discovered",
        |data| {
            data["activeAlertmanagers"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        },
    )
    .await;

    let healthy = env(&[
        ("BACKEND_URL", services.backend.url("")),
        ("GATEWAY_URL", services.gateway.url("")),
        ("BOT_HTTP_PORT", services.bot.port.to_string()),
        ("LOKI_URL", loki.url()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint()),
        ("TEMPO_URL", otlp.endpoint()),
        ("PROMETHEUS_URL", prometheus.url("")),
        ("ALERTMANAGER_URL", alertmanager.url("")),
        ("GRAFANA_URL", grafana.url.clone()),
        ("GF_SECURITY_ADMIN_PASSWORD", "s3cret".to_owned()),
    ]);

    // All green: every check passes, the bot without a token is "–".
    let run = doctor(&healthy, &["--json"]).await;
    let report = run.json();
    let statuses = statuses(&report);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(report["ok"], true);
    for name in [
        "backend /live",
        "backend /ready",
        "backend /health",
        "gateway /live",
        "gateway /ready",
        "gateway /health",
        "bot /live",
        "Loki /ready",
        "Loki clock",
        "Loki push + query",
        "backend log shipping",
        "gateway log shipping",
        "bot log shipping",
        "Prometheus /-/ready",
        "Prometheus clock",
        "target backend",
        "target gateway",
        "target bot",
        "target alertmanager",
        "Prometheus rules",
        "Prometheus → Alertmanager",
        "Alertmanager /-/ready",
        "Tempo /ready",
        "span export + read back",
        "Grafana /api/health",
        "datasource Loki",
        "datasource Prometheus",
        "datasource Tempo",
        "datasource Alertmanager",
        "Grafana dashboards",
    ] {
        assert_eq!(
            statuses.get(name).map(String::as_str),
            Some("pass"),
            "{name} should pass:\n{}",
            run.stdout
        );
    }
    assert_eq!(statuses["bot /ready"], "skip", "{}", run.stdout);
    assert!(!statuses.values().any(|s| s == "fail"), "{}", run.stdout);
    // The round trips went through the peers.
    assert!(
        loki.entries().iter().any(
            |e| e.labels.get("app").map(String::as_str) == Some("doctor")
                && e.line.contains("doctor_marker")
        ),
        "the probe line reached Loki"
    );
    assert!(
        otlp.spans().iter().any(|s| s.service_name == "doctor"),
        "the probe span reached the collector"
    );

    // The text report: one line per check, grouped, ✔ and the bot's hint.
    let run = doctor(&healthy, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    for group in [
        "services",
        "logs",
        "metrics",
        "traces",
        "dashboards",
        "alerts",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == group),
            "no {group} section:\n{}",
            run.stdout
        );
    }
    let (line, _) = run.line("✔", "Loki push + query");
    assert!(line.contains("read back in"), "{line}");
    let (_, hint) = run.line("–", "bot /ready");
    assert!(hint.contains("DISCORD_TOKEN"), "{hint}");

    // The span also travels over gRPC when the services export that way.
    let mut grpc = healthy.clone();
    grpc.insert("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into());
    let run = doctor(&grpc, &[]).await;
    let (line, _) = run.line("✔", "span export + read back");
    assert!(line.contains("read back in"), "{line}");

    // Wrong LOKI_URL: something that is not Loki answers there.
    let mut wrong = healthy.clone();
    wrong.insert("LOKI_URL".into(), services.backend.url(""));
    let run = doctor(&wrong, &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    run.assert_failed(
        "Loki /ready",
        "answers /ready, but not as Loki does",
        "LOKI_URL points at something else than Loki",
    );
    // ... or the push URL instead of the base URL.
    wrong.insert(
        "LOKI_URL".into(),
        format!("{}/loki/api/v1/push", loki.url()),
    );
    let run = doctor(&wrong, &[]).await;
    run.assert_failed(
        "Loki /ready",
        "answers 404 on /ready: not a Loki",
        "it is Loki's base URL, no path",
    );

    // Wrong Grafana password.
    let mut wrong = healthy.clone();
    wrong.insert("GF_SECURITY_ADMIN_PASSWORD".into(), "guess".into());
    let run = doctor(&wrong, &[]).await;
    run.assert_failed(
        "Grafana datasources",
        "refused the admin credentials (401)",
        "GF_SECURITY_ADMIN_PASSWORD",
    );

    // Nothing accepts OTLP where the endpoint says.
    let mut wrong = healthy.clone();
    wrong.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), unreachable_endpoint());
    let run = doctor(&wrong, &[]).await;
    run.assert_failed(
        "span export",
        "failed",
        "nothing accepts OTLP at OTEL_EXPORTER_OTLP_ENDPOINT",
    );

    // Loki's clock an hour ahead.
    loki.set_clock_offset(3600);
    let run = doctor(&healthy, &[]).await;
    run.assert_failed("Loki clock", "skew +3", "s ahead of this machine's");
    loki.set_clock_offset(0);

    // Loki rejects pushes (4xx): the probe line says so, and once the
    // services have had batches refused, their counters too.
    loki.set_mode(LokiMode::Reject {
        status: 400,
        body: "entry with timestamp 2020-01-01 ignored, reason: 'entry too far behind, oldest acceptable timestamp is: 2026-01-01T00:00:00Z'".into(),
    });
    let client = testkit::http_client();
    let backend_metrics = services.backend.url("/metrics");
    testkit::poll_until(DEADLINE, "the backend to count rejected lines", || {
        let (client, url) = (client.clone(), backend_metrics.clone());
        async move {
            // Each request is logged: new lines for the shipper to send.
            let text = client.get(&url).send().await.ok()?.text().await.ok()?;
            text.lines()
                .any(|l| {
                    l.starts_with("telemetry_log_events_dropped_total{reason=\"rejected\"}")
                        && !l.ends_with(" 0")
                })
                .then_some(())
        }
    })
    .await;
    let run = doctor(&healthy, &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    run.assert_failed("Loki push + query", "push rejected: 400", "clock");
    run.assert_failed("backend log shipping", "rejected=", "Loki refused batches");
    drop(services);
    let _ = std::fs::remove_dir_all(sqlite_dir("healthy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_part_gets_its_line_and_fix() {
    if !tools_available() {
        return;
    }
    let Some(cluster) = PgCluster::start_or_skip("each_broken_part_gets_its_line_and_fix") else {
        return;
    };
    let loki = LokiReceiver::start().await;
    let otlp = OtlpReceiver::start().await;
    let services = Services::start(&cluster.create_database(), &loki.url(), &otlp.endpoint()).await;
    let Services {
        mut backend,
        gateway,
        bot,
    } = services;
    drop(bot); // the bot is down
    let grafana = Grafana::start("admin", "admin").await;
    grafana.fail_datasource("loki");

    // Prometheus: the gateway scraped where nothing listens, no bot job, a
    // rule that fails at evaluation, no Alertmanager.
    let dir = std::env::temp_dir().join(format!("doctor-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.yml");
    std::fs::write(
        &broken,
        "groups:\n  - name: broken\n    rules:\n      - record: doctor:broken\n        expr: up + on() up\n",
    )
    .unwrap();
    let gateway_elsewhere = testkit::free_port();
    let config = scrape_config(
        "1s",
        &[
            ScrapeJob::new("backend", backend.port),
            ScrapeJob::new("gateway", gateway_elsewhere),
        ],
        &[broken],
    );
    let prometheus = Prometheus::start(&config).await;
    wait_for_api(
        &prometheus,
        "/api/v1/targets",
        "the gateway target down",
        |data| {
            data["activeTargets"].as_array().is_some_and(|targets| {
                targets
                    .iter()
                    .any(|t| t["labels"]["job"] == "gateway" && t["health"] == "down")
            })
        },
    )
    .await;
    wait_for_api(
        &prometheus,
        "/api/v1/rules",
        "the broken rule evaluated",
        |data| data["groups"][0]["rules"][0]["health"] == "err",
    )
    .await;

    // The database goes away; Loki goes away.
    cluster.stop();
    backend.wait_for_status("/ready", 503).await;
    loki.stop().await;

    let unreachable = unreachable_endpoint();
    let broken = env(&[
        ("BACKEND_URL", backend.url("")),
        ("GATEWAY_URL", gateway.url("")),
        ("BOT_HTTP_PORT", testkit::free_port().to_string()),
        ("LOKI_URL", loki.url()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", unreachable.clone()),
        ("TEMPO_URL", unreachable),
        ("PROMETHEUS_URL", prometheus.url("")),
        (
            "ALERTMANAGER_URL",
            format!("http://127.0.0.1:{}", testkit::free_port()),
        ),
        ("GRAFANA_URL", grafana.url.clone()),
    ]);
    let run = doctor(&broken, &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    // A service not ready, naming its dependency; a service down.
    run.assert_failed("backend /ready", "not ready: database", "DATABASE_URL");
    run.assert_failed("backend /health", "database (critical)", "DATABASE_URL");
    run.assert_failed("bot", "connection refused", "make dev-all");
    // Loki down.
    run.assert_failed(
        "Loki /ready",
        "connection refused",
        "Loki is not running at LOKI_URL",
    );
    // Targets down or missing, a failing rule, no Alertmanager.
    run.assert_failed("target gateway", "0/1 up", "gateway is not running there");
    run.assert_failed("target bot", "not scraped", "no `bot` job");
    let (line, _) = run.line("✔", "target backend");
    assert!(line.contains("1/1 up"), "{line}");
    run.assert_failed(
        "Prometheus rules",
        "1 failing, e.g. doctor:broken",
        "fix it in",
    );
    run.assert_failed(
        "Prometheus → Alertmanager",
        "no Alertmanager discovered",
        "alerting.alertmanagers",
    );
    run.assert_failed("Alertmanager", "connection refused", "ALERTMANAGER_URL");
    // A Grafana datasource failing its health check.
    run.assert_failed(
        "datasource Loki",
        "Unable to connect with Loki",
        "Grafana cannot query loki",
    );
    let (line, _) = run.line("✔", "datasource Prometheus");
    assert!(line.contains("successfully connected"), "{line}");
    // Tempo and the OTLP endpoint set, nothing there.
    run.assert_failed("Tempo", "connection refused", "TEMPO_URL");
    run.assert_failed("span export", "failed", "nothing accepts OTLP");

    // The same as JSON, for machines.
    let run = doctor(&broken, &["--json"]).await;
    let report = run.json();
    assert_eq!(report["ok"], false);
    let loki_ready = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Loki /ready")
        .unwrap();
    assert_eq!(loki_ready["status"], "fail");
    assert_eq!(loki_ready["group"], "logs");
    assert!(
        loki_ready["hint"]["link"]
            .as_str()
            .unwrap()
            .starts_with("docs/monitoring.md#")
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A bad value stops the doctor as it stops the services: exit 2, one line
/// naming the variable.
#[tokio::test]
async fn a_bad_variable_is_named() {
    let run = doctor(
        &env(&[("PROMETHEUS_URL", "localhost:9090".to_owned())]),
        &[],
    )
    .await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("PROMETHEUS_URL") && run.stderr.contains("localhost:9090"),
        "{}",
        run.stderr
    );
}

/// Colours as the services' console decides: on in a terminal (a real
/// pseudo-terminal, through `script`), off with NO_COLOR, forced with
/// FORCE_COLOR into a pipe.
#[tokio::test]
async fn colours_follow_the_terminal_no_color_and_force_color() {
    let doctor = testkit::binary("doctor");
    let nowhere = format!("http://127.0.0.1:{}", testkit::free_port());
    let run = |extra: &[(&str, &str)], in_terminal: bool| {
        let mut command = if in_terminal {
            let mut script = std::process::Command::new("script");
            script
                .args(["-q", "-e", "-c"])
                .arg(format!("{} --timeout 2s", doctor.display()))
                .arg("/dev/null");
            script
        } else {
            let mut direct = std::process::Command::new(&doctor);
            direct.args(["--timeout", "2s"]);
            direct
        };
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TERM", "xterm")
            .current_dir(std::env::temp_dir())
            .stdin(std::process::Stdio::null());
        for var in [
            "BACKEND_URL",
            "GATEWAY_URL",
            "PROMETHEUS_URL",
            "TEMPO_URL",
            "GRAFANA_URL",
            "ALERTMANAGER_URL",
        ] {
            command.env(var, &nowhere);
        }
        for (key, value) in extra {
            command.env(key, value);
        }
        let output = command.output().expect("run doctor");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let terminal = run(&[], true);
    assert!(
        terminal.contains("\x1b[31m✘\x1b[0m"),
        "a terminal gets colours:\n{terminal}"
    );
    let no_color = run(&[("NO_COLOR", "1")], true);
    assert!(
        no_color.contains("✘") && !no_color.contains("\x1b["),
        "NO_COLOR wins:\n{no_color}"
    );
    let piped = run(&[], false);
    assert!(
        piped.contains("✘") && !piped.contains("\x1b["),
        "a pipe gets none:\n{piped}"
    );
    let forced = run(&[("FORCE_COLOR", "1")], false);
    assert!(
        forced.contains("\x1b[31m✘\x1b[0m"),
        "FORCE_COLOR forces them:\n{forced}"
    );
}

/// With `METRICS_TOKEN` the services show check messages only to whoever
/// sends it: the doctor does, so its lines still say why.
#[tokio::test]
async fn the_doctor_reads_the_details_behind_the_metrics_token() {
    const TOKEN: &str = "doctor-t0ken";
    let dead_backend = format!("http://127.0.0.1:{}", testkit::free_port());
    let mut gateway = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", &dead_backend)
        .env("METRICS_TOKEN", TOKEN)
        .spawn();
    gateway.wait_live().await;
    let run = doctor(
        &env(&[
            ("GATEWAY_URL", gateway.url("")),
            ("BACKEND_URL", dead_backend.clone()),
            ("BOT_HTTP_PORT", testkit::free_port().to_string()),
            ("METRICS_TOKEN", TOKEN.to_owned()),
        ]),
        &[],
    )
    .await;
    run.assert_failed(
        "gateway /ready",
        &format!("not ready: backend: GET {dead_backend}/live"),
        "the gateway cannot reach the backend",
    );
    run.assert_failed(
        "gateway /health",
        &format!("backend (critical): GET {dead_backend}/live"),
        "the gateway cannot reach the backend",
    );
}
