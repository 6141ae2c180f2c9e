//! Accepted events are never lost without a count: a real gateway process
//! before a backend that is down, one that never answers, and one whose
//! first answer is lost after it committed (a relay stands in for the
//! network losing it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{
    Service, ServiceBuilder, free_port, http_client, lossy_proxy::LossyProxy, poll_until,
};

const KEY: &str = "test-key";
/// Longer than any wait below: the retries (about 4 s) and the flush
/// deadline (10 s) are what the tests wait for.
const WAIT: Duration = Duration::from_secs(60);

fn event(kind: &str, guild: &str, user: &str) -> Value {
    json!({
        "type": kind,
        "guild_id": guild,
        "user_id": user,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    })
}

async fn gateway(backend_url: &str, env: &[(&str, &str)]) -> Service {
    let mut builder = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", backend_url)
        .env("GATEWAY_API_KEYS", KEY)
        .env("LOG_LEVEL", "info");
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    let mut service = builder.spawn();
    service.wait_live().await;
    service
}

async fn post_events(gateway: &Service, events: Vec<Value>) {
    let response = http_client()
        .post(gateway.url("/events"))
        .bearer_auth(KEY)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// The sum of the samples of `name` carrying every label of `labels`.
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_for_count(
    service: &Service,
    what: &str,
    name: &str,
    labels: &[(&str, &str)],
    n: f64,
) {
    poll_until(WAIT, what, || async {
        let text = service.get_text("/metrics").await;
        (sample(&text, name, labels) >= n).then_some(())
    })
    .await;
}

/// The lines of `output` that contain `needle`, once the process has
/// written them (the pipe is read by a thread).
async fn lines_with(output: &testkit::Output, needle: &str) -> Vec<String> {
    poll_until(Duration::from_secs(10), needle, || {
        let lines: Vec<String> = output
            .lines()
            .into_iter()
            .filter(|line| line.contains(needle))
            .collect();
        async move { (!lines.is_empty()).then_some(lines) }
    })
    .await
}

async fn backend() -> (Service, std::path::PathBuf) {
    let database = std::env::temp_dir().join(format!(
        "gateway-delivery-{}-{}.db",
        std::process::id(),
        free_port()
    ));
    let mut backend = ServiceBuilder::new("backend")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", database.display()),
        )
        .spawn();
    backend.wait_for_status("/ready", 200).await;
    (backend, database)
}

fn remove_database(database: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
}

/// (a) The backend is down for the whole retry budget: the batch's events
/// are counted `undelivered` and logged in one line with their number.
#[tokio::test]
async fn a_batch_the_backend_never_takes_is_counted_and_logged_once() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let gateway = gateway(&down, &[]).await;
    post_events(
        &gateway,
        vec![
            event("member_join", "910", "1"),
            event("member_join", "910", "2"),
            event("message_create", "910", "1"),
        ],
    )
    .await;

    let metric = "events_forwarded_total";
    wait_for_count(
        &gateway,
        "the lost batch to be counted",
        metric,
        &[("outcome", "undelivered")],
        3.0,
    )
    .await;
    let text = gateway.get_text("/metrics").await;
    let lost = |kind| sample(&text, metric, &[("type", kind), ("outcome", "undelivered")]);
    assert_eq!(
        (lost("member_join"), lost("message_create")),
        (2.0, 1.0),
        "{text}"
    );
    assert_eq!(sample(&text, metric, &[("outcome", "forwarded")]), 0.0);

    let lines = lines_with(&gateway.stdout, "events lost").await;
    assert_eq!(lines.len(), 1, "one line per lost batch: {lines:#?}");
    assert!(lines[0].contains("3 events lost"), "{}", lines[0]);
}

/// (b) SIGTERM while a batch waits on a backend that never answers and more
/// events are queued: at the flush deadline, every one of them is counted
/// lost in one line, and the gateway still exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_at_the_shutdown_deadline_are_counted_lost() {
    // Accepts connections and never answers them.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let held = {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((connection, _)) = silent.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                connections.push(connection);
            }
        })
    };
    let mut gateway = gateway(
        &silent_url,
        &[
            ("UPSTREAM_TIMEOUT_MS", "600000"),
            ("SHUTDOWN_GRACE_SECONDS", "0"),
        ],
    )
    .await;
    post_events(&gateway, vec![event("member_join", "920", "1"); 2]).await;
    poll_until(WAIT, "the first batch to be in flight", || {
        let n = accepted.load(Ordering::SeqCst);
        async move { (n > 0).then_some(()) }
    })
    .await;
    post_events(&gateway, vec![event("message_create", "920", "1"); 3]).await;

    gateway.signal("TERM");
    let status = tokio::task::block_in_place(|| gateway.wait_exit(WAIT));
    assert_eq!(status.code(), Some(0), "{}", gateway.stderr.text());
    let lines = lines_with(&gateway.stdout, "events lost").await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("5 events lost: still queued at the flush deadline"),
        "{}",
        lines[0]
    );
    held.abort();
}

/// (c) The backend commits a batch but its answer is lost: the gateway
/// retries the batch with the same key and the backend counts it once.
#[tokio::test]
async fn a_batch_retried_after_a_lost_answer_is_counted_once() {
    let (backend, database) = backend().await;
    let upstream = format!("127.0.0.1:{}", backend.port);
    let proxy = LossyProxy::start(&upstream, "POST /api/events").await;
    let gateway = gateway(&proxy.url, &[]).await;
    let events = vec![event("message_create", "930", "1"); 4];
    post_events(&gateway, events).await;

    wait_for_count(
        &gateway,
        "the batch to be acknowledged",
        "events_forwarded_total",
        &[("outcome", "forwarded")],
        4.0,
    )
    .await;
    assert_eq!(proxy.answers_lost(), 1, "the first answer was lost");
    let stats = backend.get_json("/api/guilds/930/stats").await;
    assert_eq!(stats["messages"], 4, "counted once: {stats}");
    let backend_metrics = backend.get_text("/metrics").await;
    assert!(
        backend_metrics
            .lines()
            .any(|line| line.starts_with("event_batches_duplicate_total 1")),
        "the retry reached the backend and was recognised:\n{backend_metrics}"
    );
    let text = gateway.get_text("/metrics").await;
    for outcome in ["undelivered", "rejected"] {
        assert_eq!(
            sample(&text, "events_forwarded_total", &[("outcome", outcome)]),
            0.0
        );
    }
    drop(backend);
    remove_database(&database);
}
