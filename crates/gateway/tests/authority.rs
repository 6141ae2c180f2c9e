//! The edge's authority, against the real gateway process: keys carry
//! scopes, failed authentications are limited per client address, the proxy
//! reaches nothing but the backend's API (a recording stand-in backend proves
//! what reached it), and `/health` keeps its details for the ops token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{
    Service, ServiceBuilder,
    recorder::{Recorder, raw_request},
};

const CLIENT_KEY: &str = "client-key";
const BOT_KEY: &str = "bot-key";
const FEEDER_KEY: &str = "feeder-key";

async fn gateway(backend_url: &str, env: &[(&str, &str)]) -> Service {
    let keys = format!("{CLIENT_KEY}:api, {BOT_KEY}:events+api, {FEEDER_KEY}:events");
    let mut builder = ServiceBuilder::new("gateway")
        .env("BACKEND_URL", backend_url)
        .env("GATEWAY_API_KEYS", keys);
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

fn events() -> Value {
    json!({"events": [{
        "type": "member_join",
        "guild_id": "123456789012345678",
        "user_id": "223456789012345678",
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    }]})
}

/// A client whose connections come from `address` (any of 127.0.0.0/8).
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_key_outside_its_scopes_is_403_naming_the_scope() {
    let backend = Recorder::start().await;
    let gateway = gateway(backend.url(), &[]).await;
    let client = testkit::http_client();
    let guild = gateway.url("/api/guilds/123456789012345678");

    // The client's key reaches the API, not the event path.
    let (status, _, body) = send(client.get(&guild).bearer_auth(CLIENT_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let post = client
        .post(gateway.url("/events"))
        .bearer_auth(CLIENT_KEY)
        .json(&events());
    let (status, _, body) = send(post).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(body["error"]["scope"], "events");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`events` scope"),
        "{body}"
    );

    // An events-only key cannot read the API.
    let (status, _, body) = send(client.get(&guild).bearer_auth(FEEDER_KEY)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["scope"], "api");

    // The bot's key does both.
    let post = client
        .post(gateway.url("/events"))
        .bearer_auth(BOT_KEY)
        .json(&events());
    let (status, _, body) = send(post).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _, body) = send(client.get(&guild).bearer_auth(BOT_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Only the two API reads with an `api` key reached the backend (the
    // accepted event may follow in a batch to /api/events).
    let reads: Vec<_> = backend
        .received()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
}

#[tokio::test]
async fn failed_authentications_are_limited_per_client_address() {
    let backend = Recorder::start().await;
    let gateway = gateway(
        backend.url(),
        &[
            ("GATEWAY_AUTH_FAILURE_LIMIT_BURST", "3"),
            ("GATEWAY_AUTH_FAILURE_LIMIT_PER_MINUTE", "1"),
        ],
    )
    .await;
    let guild = gateway.url("/api/guilds/123456789012345678");
    let guesser = client_from(Ipv4Addr::new(127, 0, 0, 1));
    for attempt in 1..=3 {
        let (status, _, body) = send(guesser.get(&guild).bearer_auth("guess")).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    // Over its limit, the address gets 429 whatever it sends: a right key
    // is not told apart from a wrong one.
    for key in ["guess", CLIENT_KEY] {
        let (status, headers, body) = send(guesser.get(&guild).bearer_auth(key)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{key}: {body}");
        assert_eq!(body["error"]["code"], "auth_rate_limited");
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            (1..=60).contains(&retry_after),
            "Retry-After: {retry_after}"
        );
    }
    // Another address is not affected.
    let other = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let (status, _, body) = send(other.get(&guild).bearer_auth(CLIENT_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = send(other.get(&guild).bearer_auth("guess")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let metrics = gateway.get_text("/metrics").await;
    assert!(
        metrics.contains("auth_failure_limited_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("auth_failures_total 4"), "{metrics}");
}

/// Request targets that would leave the API once a URL parser resolves
/// them: dot segments (plain, percent-encoded in either case, mixed),
/// backslashes, encoded slashes and backslashes.
const ESCAPES: [&str; 22] = [
    "/api/..",
    "/api/../health",
    "/api/../metrics",
    "/api/./../metrics",
    "/api/%2e%2e/metrics",
    "/api/%2E%2E/metrics",
    "/api/%2e%2E/health",
    "/api/.%2e/metrics",
    "/api/%2e./metrics",
    "/api/%2e%2e",
    "/api/foo/%2E%2E/%2e%2e/metrics",
    "/api/guilds/1/%2e%2e/%2e%2e/%2e%2e/live",
    "/api/%2e%2e/metrics?x=1",
    "/api/..%2fmetrics",
    "/api/..%2Fmetrics",
    "/api/%2e%2e%2fmetrics",
    "/api/guilds%2f..%2f..%2fmetrics",
    "/api/..\\metrics",
    "/api/foo\\..\\..\\metrics",
    "/api/%5c..%5cmetrics",
    "/api/..%5Cmetrics",
    "/api/%2",
];

#[tokio::test]
async fn the_proxy_never_leaves_the_backends_api() {
    let backend = Recorder::start().await;
    let gateway = gateway(backend.url(), &[]).await;
    let auth = format!("Authorization: Bearer {CLIENT_KEY}");
    for target in ESCAPES {
        for method in ["GET", "POST"] {
            let answer = raw_request(gateway.port, method, target, &[&auth]).await;
            assert!(
                answer.status == 400 || answer.status == 404,
                "{method} {target}: {} {}",
                answer.status,
                answer.body
            );
            let body: Value = serde_json::from_str(&answer.body)
                .unwrap_or_else(|_| panic!("{method} {target}: not JSON: {}", answer.body));
            if answer.status == 400 {
                assert_eq!(body["error"]["field"], "path", "{target}: {body}");
            }
        }
    }
    assert_eq!(
        backend.received(),
        [],
        "the backend must receive none of the escapes"
    );
    // The stand-in does record what the gateway relays.
    let answer = raw_request(gateway.port, "GET", "/api/guilds/1?x=1", &[&auth]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let received = backend.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].target, "/api/guilds/1?x=1");
}

#[tokio::test]
async fn health_details_are_for_the_ops_token_only() {
    const TOKEN: &str = "ops-t0ken";
    // Nothing listens there: the check fails with a message naming the URL
    // and the error chain.
    let dead_port = testkit::free_port();
    let backend_url = format!("http://127.0.0.1:{dead_port}");
    let gateway = gateway(&backend_url, &[("METRICS_TOKEN", TOKEN)]).await;
    let client = testkit::http_client();

    let (status, _, health) = send(client.get(gateway.url("/health"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["status"], "down");
    assert_eq!(
        health["checks"],
        json!({"backend": {"status": "error", "critical": true}}),
        "{health}"
    );
    let (status, _, ready) = send(client.get(gateway.url("/ready"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["reasons"], json!(["backend"]), "{ready}");
    for body in [&health, &ready] {
        let text = body.to_string();
        for leak in [
            dead_port.to_string().as_str(),
            "127.0.0.1",
            "http",
            "refused",
        ] {
            assert!(!text.contains(leak), "{leak:?} in {text}");
        }
    }

    // With the token: the details.
    let (_, _, health) = send(client.get(gateway.url("/health")).bearer_auth(TOKEN)).await;
    let message = health["checks"]["backend"]["message"].as_str().unwrap();
    assert!(message.contains(&dead_port.to_string()), "{health}");
    let (_, _, ready) = send(client.get(gateway.url("/ready")).bearer_auth(TOKEN)).await;
    assert!(
        ready["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("backend: "),
        "{ready}"
    );
    // A wrong token is no token.
    let (_, _, health) = send(client.get(gateway.url("/health")).bearer_auth("nope")).await;
    assert!(
        health["checks"]["backend"].get("message").is_none(),
        "{health}"
    );
    // The probes stay open.
    assert_eq!(
        client
            .get(gateway.url("/live"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
