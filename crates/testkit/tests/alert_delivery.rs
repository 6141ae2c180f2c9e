//! Alerts reach a person: the real Prometheus evaluates the repository's
//! alert rules on a scrape target that goes down, the real Alertmanager
//! (configuration rendered by `infrastructure/alertmanager/render.sh` from
//! ALERT_WEBHOOK_URL, as in the compose files) routes the alert, and the
//! webhook receiver started here gets `ApplicationDown` with its summary,
//! severity, service, absolute runbook and Grafana links. The message
//! template renders that same notification readably (amtool).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Command, time::Duration};

use axum::{Router, routing::get};
use testkit::{
    alertmanager::{self, Alertmanager, WebhookReceiver},
    free_port, poll_until,
    prometheus::{self, Prometheus},
};

const RUNBOOKS: &str = "https://runbooks.example.org/platform/docs/runbooks";
const GRAFANA: &str = "https://grafana.example.org";
const DEADLINE: Duration = Duration::from_secs(90);

/// The repository's rules, with ApplicationDown's `for: 1m` shortened so
/// the test does not wait a minute (the expression and annotations unchanged).
fn rules_file(dir: &std::path::Path) -> std::path::PathBuf {
    let rules = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../infrastructure/prometheus/rules/alerts.yml"),
    )
    .unwrap();
    let start = rules.find("- alert: ApplicationDown").unwrap();
    let at = start + rules[start..].find("for: 1m").unwrap();
    let shortened = format!("{}for: 2s{}", &rules[..at], &rules[at + "for: 1m".len()..]);
    let path = dir.join("alerts.yml");
    std::fs::write(&path, shortened).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_going_down_notifies_the_webhook_with_summary_severity_service_and_links() {
    if !prometheus::tools_available() || !alertmanager::available() {
        return;
    }
    let webhook = WebhookReceiver::start().await;
    let alertmanager = Alertmanager::start(&[
        ("ALERT_WEBHOOK_URL", webhook.url().as_str()),
        ("ALERT_GROUP_WAIT", "1s"),
        ("ALERT_GROUP_INTERVAL", "1s"),
    ])
    .await;

    // The scrape target: a service's /metrics, until it goes away.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_port = target.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let app = Router::new().route("/metrics", get(|| async { "build_info 1\n" }));
        axum::serve(target, app).await.unwrap();
    });

    let dir = std::env::temp_dir().join(format!("alert-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n  external_labels:\n    environment: test\n    runbook_base_url: ${{RUNBOOK_BASE_URL}}\n    grafana_url: ${{GRAFANA_URL}}\n\
         rule_files:\n  - {:?}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{}\"]\n\
         scrape_configs:\n  - job_name: backend\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n",
        rules_file(&dir).display().to_string(),
        alertmanager.port,
    );
    let prometheus = Prometheus::start_with(
        free_port(),
        &config,
        &["--enable-feature=expand-external-labels"],
        &[("RUNBOOK_BASE_URL", RUNBOOKS), ("GRAFANA_URL", GRAFANA)],
    )
    .await;
    poll_until(DEADLINE, "the target to be up", || async {
        let up = prometheus.query("up{job=\"backend\"} == 1").await.ok()?;
        (!up.is_empty()).then_some(())
    })
    .await;

    server.abort();
    let notification = poll_until(DEADLINE, "ApplicationDown at the webhook", || {
        let received = webhook.received();
        async move {
            received.into_iter().find(|n| {
                n["status"] == "firing" && n["commonLabels"]["alertname"] == "ApplicationDown"
            })
        }
    })
    .await;
    let alert = &notification["alerts"][0];
    let (labels, annotations) = (&alert["labels"], &alert["annotations"]);
    assert_eq!(labels["severity"], "critical", "{notification:#}");
    assert_eq!(labels["job"], "backend", "{notification:#}");
    assert_eq!(
        annotations["summary"], "backend is down",
        "{notification:#}"
    );
    assert_eq!(
        annotations["runbook_url"],
        format!("{RUNBOOKS}/ApplicationDown.md"),
        "{notification:#}"
    );
    assert_eq!(
        annotations["dashboard_url"],
        format!("{GRAFANA}/d/service-red?var-service=backend"),
        "{notification:#}"
    );

    // What a person reads in Slack or an e-mail: the same notification
    // through the message template.
    let data = dir.join("notification.json");
    std::fs::write(&data, notification.to_string()).unwrap();
    let rendered = Command::new("amtool")
        .arg("template")
        .arg("render")
        .arg(format!(
            "--template.glob={}/*.tmpl",
            alertmanager::config_dir().join("templates").display()
        ))
        .arg(format!("--template.data={}", data.display()))
        .arg("--template.text={{ template \"platform.title\" . }}\n{{ template \"platform.text\" . }}")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    println!("{text}");
    for expected in [
        "[FIRING:1] ApplicationDown — backend",
        "backend is down",
        "Severity: critical · Service: backend",
        &format!("Runbook: {RUNBOOKS}/ApplicationDown.md"),
        &format!("Grafana: {GRAFANA}/d/service-red?var-service=backend"),
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    drop(prometheus);
    drop(alertmanager);
    let _ = std::fs::remove_dir_all(&dir);
}
