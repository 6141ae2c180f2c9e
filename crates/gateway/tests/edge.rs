//! The gateway as a real process in front of a real backend process (on a
//! throwaway SQLite file): authentication, rate limiting, event batching,
//! and the backend going away and coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use testkit::{STARTUP_DEADLINE, Service, ServiceBuilder, free_port, http_client, poll_until};

const KEY: &str = "test-key";
const OTHER_KEY: &str = "other-key";

/// A backend on a fixed port and database file, so it can be restarted
/// exactly where the gateway expects it.
struct Backend {
    port: u16,
    database: PathBuf,
    service: Option<Service>,
}

impl Backend {
    async fn start() -> Self {
        static DATABASES: AtomicU32 = AtomicU32::new(0);
        let database = std::env::temp_dir().join(format!(
            "gateway-edge-{}-{}.db",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        ));
        let mut backend = Self {
            port: free_port(),
            database,
            service: None,
        };
        backend.restart().await;
        backend
    }

    async fn restart(&mut self) {
        let service = ServiceBuilder::new("backend")
            .env("PORT", self.port.to_string())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", self.database.display()),
            )
            .spawn();
        let url = self.url("/live");
        let client = http_client();
        poll_until(STARTUP_DEADLINE, "the backend to answer /live", || {
            let request = client.get(&url).send();
            async move { request.await.ok().filter(|r| r.status().is_success()) }
        })
        .await;
        self.service = Some(service);
    }

    fn stop(&mut self) {
        self.service = None;
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.service = None;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.database.display()));
        }
    }
}

async fn gateway(backend: &Backend, env: &[(&str, &str)]) -> Service {
    let mut builder = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", backend.url(""))
        .env("GATEWAY_API_KEYS", format!("{KEY}, {OTHER_KEY}"));
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    let mut service = builder.spawn();
    service.wait_live().await;
    service
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    testkit::send_json(request).await
}

fn event(kind: &str, guild: &str, user: &str) -> Value {
    json!({
        "type": kind,
        "guild_id": guild,
        "user_id": user,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    })
}

async fn stats(client: &Client, gateway: &Service, guild: &str) -> Value {
    let url = gateway.url(&format!("/api/guilds/{guild}/stats"));
    let (status, _, body) = send(client.get(url).bearer_auth(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401_json() {
    let backend = Backend::start().await;
    let gateway = gateway(&backend, &[]).await;
    let client = http_client();
    let guild = gateway.url("/api/guilds/1");
    let unauthenticated = [
        client.get(&guild),
        client.get(&guild).bearer_auth("wrong-key"),
        client.get(&guild).bearer_auth(format!("{KEY}x")),
        client.get(&guild).basic_auth(KEY, Some("")),
        client
            .post(gateway.url("/events"))
            .json(&json!({"events": [event("member_join", "1", "2")]})),
    ];
    for request in unauthenticated {
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }

    // With a key: the backend's answers are relayed, errors included.
    let (status, _, body) = send(client.get(&guild).bearer_auth(KEY)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let put = client
        .put(&guild)
        .bearer_auth(OTHER_KEY)
        .json(&json!({"name": "Crabs"}));
    let (status, _, body) = send(put).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = send(client.get(format!("{guild}?x=1")).bearer_auth(KEY)).await;
    assert_eq!(
        (status, body["name"].clone()),
        (StatusCode::OK, json!("Crabs"))
    );
    let bad = client.get(gateway.url("/api/guilds/abc")).bearer_auth(KEY);
    let (status, _, body) = send(bad).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("id"))
    );

    // Unknown gateway routes are 404 JSON, keys or not.
    let (status, _, body) = send(client.get(gateway.url("/nope"))).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let backend = Backend::start().await;
    let gateway = gateway(
        &backend,
        &[
            ("GATEWAY_RATE_LIMIT_PER_SECOND", "1"),
            ("GATEWAY_RATE_LIMIT_BURST", "3"),
        ],
    )
    .await;
    let client = http_client();
    let url = gateway.url("/api/guilds/1/stats");
    let mut limited = None;
    for _ in 0..20 {
        let (status, headers, body) = send(client.get(&url).bearer_auth(KEY)).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((headers, body));
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (headers, body) = limited.expect("20 requests over a burst of 3 at 1/s: some are limited");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    // Buckets are per key.
    let (status, _, body) = send(client.get(&url).bearer_auth(OTHER_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn accepted_events_reach_the_backend_stats() {
    let backend = Backend::start().await;
    let gateway = gateway(&backend, &[]).await;
    let client = http_client();
    let events = json!({"events": [
        event("member_join", "500", "1"),
        event("member_join", "500", "2"),
        event("message_create", "500", "1"),
        event("member_leave", "500", "2"),
    ]});
    let (status, _, body) = send(
        client
            .post(gateway.url("/events"))
            .bearer_auth(KEY)
            .json(&events),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": 4}))
    );

    let stats = poll_until(
        Duration::from_secs(10),
        "events to reach the backend",
        || {
            let (client, gateway) = (&client, &gateway);
            async move {
                let stats = stats(client, gateway, "500").await;
                (stats["members_joined"] == 2).then_some(stats)
            }
        },
    )
    .await;
    assert_eq!(stats["messages"], 1);
    assert_eq!(stats["members_left"], 1);

    // Invalid events are refused to the bot, naming the field.
    let bad = json!({"events": [event("member_join", "500", "1"), event("typing", "500", "1")]});
    let (status, _, body) = send(
        client
            .post(gateway.url("/events"))
            .bearer_auth(KEY)
            .json(&bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "events[1].type");
    let not_json = client
        .post(gateway.url("/events"))
        .bearer_auth(KEY)
        .header("content-type", "text/plain")
        .body("hello");
    let (status, _, body) = send(not_json).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!("unsupported_media_type")
        )
    );
    let truncated = client
        .post(gateway.url("/events"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{\"events\": [");
    let (status, _, body) = send(truncated).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("malformed_json"))
    );
    let empty = json!({"events": []});
    let (status, _, body) = send(
        client
            .post(gateway.url("/events"))
            .bearer_auth(KEY)
            .json(&empty),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("events"))
    );
}

#[tokio::test]
async fn queued_events_are_flushed_on_graceful_shutdown() {
    let backend = Backend::start().await;
    // A flush interval far longer than the test: only shutdown can flush.
    let mut gateway = gateway(&backend, &[("EVENT_FLUSH_INTERVAL_MS", "600000")]).await;
    let client = http_client();
    let events =
        json!({"events": [event("member_join", "600", "1"), event("member_join", "600", "2")]});
    let (status, _, _) = send(
        client
            .post(gateway.url("/events"))
            .bearer_auth(KEY)
            .json(&events),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    gateway.signal("TERM");
    let exit = gateway.wait_exit(Duration::from_secs(20));
    assert!(
        exit.success(),
        "gateway exit: {exit}\n{}",
        gateway.stderr.text()
    );
    let response = client
        .get(backend.url("/api/guilds/600/stats"))
        .send()
        .await
        .unwrap();
    let stats: Value = response.json().await.unwrap();
    assert_eq!(stats["members_joined"], 2, "{stats}");
}

#[tokio::test]
async fn backend_down_is_a_fast_503_and_recovery_needs_no_restart() {
    let mut backend = Backend::start().await;
    let gateway = gateway(&backend, &[]).await;
    let client = http_client();
    let url = gateway.url("/api/guilds/1/stats");
    let (status, _, _) = send(client.get(&url).bearer_auth(KEY)).await;
    assert_eq!(status, StatusCode::OK);

    backend.stop();
    for request in [
        client.get(&url).bearer_auth(KEY),
        client
            .post(gateway.url("/api/guilds/1/moderation"))
            .bearer_auth(KEY)
            .json(&json!({"action": "warn", "moderator_id": "1", "target_id": "2", "reason": "r"})),
    ] {
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "backend_unavailable");
        assert!(headers.contains_key("retry-after"));
    }
    // The bot's events are still accepted (queued) while the backend is down.
    let events = json!({"events": [event("member_join", "700", "1")]});
    let (status, _, _) = send(
        client
            .post(gateway.url("/events"))
            .bearer_auth(KEY)
            .json(&events),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    backend.restart().await;
    poll_until(
        Duration::from_secs(10),
        "the gateway to reach the backend again",
        || {
            let request = client.get(&url).bearer_auth(KEY).send();
            async move { request.await.ok().filter(|r| r.status() == StatusCode::OK) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_full_event_queue_is_a_503_not_growth() {
    let mut backend = Backend::start().await;
    let gateway = gateway(
        &backend,
        &[
            ("EVENT_QUEUE_CAPACITY", "1000"),
            ("EVENT_BATCH_SIZE", "500"),
        ],
    )
    .await;
    backend.stop();
    let client = http_client();
    let batch = json!({"events": vec![event("message_create", "800", "1"); 1000]});
    let post = || {
        client
            .post(gateway.url("/events"))
            .bearer_auth(KEY)
            .json(&batch)
    };
    let (status, _, _) = send(post()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The batcher holds at most one batch (500) out of the queue while the
    // backend is down, so 1000 more cannot fit.
    let (status, headers, body) = send(post()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "queue_full");
    assert!(headers.contains_key("retry-after"));
}
