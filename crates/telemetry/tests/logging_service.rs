//! The pipeline as a service installs it: a real binary shipping to the
//! in-test Loki, its startup line, its flush line at SIGTERM, and its
//! configuration errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use testkit::{
    ServiceBuilder, assert_config_error,
    loki::{LokiMode, LokiReceiver},
    poll_until,
};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_ships_its_lines_and_flushes_at_sigterm() {
    let loki = LokiReceiver::start().await;
    let mut backend = ServiceBuilder::new("backend")
        .env("LOKI_URL", loki.url())
        .env("LOKI_BATCH_INTERVAL", "100ms")
        .env("LOG_FORMAT", "json")
        .spawn();
    backend.wait_live().await;
    let startup = format!("Logs shipped to Loki: {}", loki.url());
    poll_until(DEADLINE, "the startup line on stdout", || async {
        backend.stdout.text().contains(&startup).then_some(())
    })
    .await;
    let entries = loki.wait_for_entries(1, DEADLINE).await;
    let first = &entries[0];
    assert_eq!(first.labels["app"], "backend");
    assert_eq!(first.labels["environment"], "development");
    assert!(
        entries
            .iter()
            .any(|e| e.json()["message"] == startup.as_str())
    );
    assert_eq!(first.json()["service"], "backend");
    assert_eq!(first.json()["pid"], backend.pid());

    backend.signal("TERM");
    let status = backend.wait_exit(DEADLINE);
    assert!(status.success(), "{status}");
    let stderr = backend.stderr.text();
    let flush_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Loki flush:"))
        .collect();
    assert_eq!(flush_lines.len(), 1, "stderr:\n{stderr}");
    assert!(
        flush_lines[0].contains("0 dropped at shutdown"),
        "{}",
        flush_lines[0]
    );
    // The last lines before exit reached Loki too.
    assert!(
        loki.entries()
            .iter()
            .any(|e| e.json()["message"] == "shutdown complete"),
        "stdout:\n{}",
        backend.stdout.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_loki_the_console_says_so_and_a_dead_loki_does_not_stop_the_service() {
    let mut backend = ServiceBuilder::new("backend").spawn();
    backend.wait_live().await;
    poll_until(DEADLINE, "the console-only line", || async {
        backend
            .stdout
            .text()
            .contains("[BACKEND] info [Logging] Loki disabled (LOKI_URL empty): console only")
            .then_some(())
    })
    .await;

    let loki = LokiReceiver::start().await;
    loki.set_mode(LokiMode::Hang);
    let mut hung = ServiceBuilder::new("backend")
        .env("LOKI_URL", loki.url())
        .env("LOKI_TIMEOUT", "200ms")
        .env("LOKI_FLUSH_TIMEOUT", "500ms")
        .spawn();
    hung.wait_live().await;
    hung.signal("TERM");
    assert!(hung.wait_exit(DEADLINE).success());
    assert!(
        hung.stderr.text().contains("Loki flush:"),
        "{}",
        hung.stderr.text()
    );
}

#[test]
fn loki_settings_are_checked_at_startup() {
    assert_config_error("backend", "LOKI_TIMEOUT", "soon");
    assert_config_error("backend", "LOKI_MAX_BUFFER", "lots");
    assert_config_error("backend", "LOKI_BATCH_INTERVAL", "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipper_warnings_go_to_the_console_never_to_loki() {
    let loki = LokiReceiver::start().await;
    let mut backend = ServiceBuilder::new("backend")
        .env("LOKI_URL", loki.url())
        .env("LOKI_BATCH_INTERVAL", "100ms")
        .env("LOKI_TIMEOUT", "300ms")
        .spawn();
    backend.wait_live().await;
    loki.wait_for_entries(1, DEADLINE).await;
    loki.stop().await;
    // Any request logs nothing by itself yet; the shutdown lines will be
    // queued while Loki is away. Make the shipper try: SIGTERM logs lines.
    loki.resume().await;
    loki.set_mode(LokiMode::Fail {
        status: 503,
        retry_after: None,
    });
    backend.signal("TERM");
    poll_until(DEADLINE, "the shipper's warning on stderr", || async {
        backend
            .stderr
            .text()
            .lines()
            .any(|l| l.contains("[BACKEND] warn [Loki] Loki push failed (server_error: 503"))
            .then_some(())
    })
    .await;
    loki.set_mode(LokiMode::Accept);
    assert!(backend.wait_exit(DEADLINE).success());
    let entries = loki.entries();
    assert!(
        entries
            .iter()
            .any(|e| e.json()["message"] == "shutdown complete")
    );
    assert!(
        entries.iter().all(|e| !e.line.contains("Loki push failed")),
        "a shipper warning reached Loki"
    );
    assert!(backend.stderr.text().contains("Loki reachable again"));
}
