//! The real HTTP client against a small in-test server: the exact requests
//! (path, query, bearer key, JSON body) and how answers map to errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use bot::clients::{
    GatewayApi, GatewayClient, GatewayError,
    gateway::{EventKind, GatewayEvent, NewModerationAction},
};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Option<Value>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Records every request and answers by path.
async fn stub(State(log): State<Log>, request: Request) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let header =
        |headers: &HeaderMap, name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        authorization: header(&parts.headers, "authorization"),
        content_type: header(&parts.headers, "content-type"),
        body: serde_json::from_slice(&bytes).ok(),
    });
    let path = parts.uri.path().to_owned();
    match path.as_str() {
        "/events" => (
            StatusCode::ACCEPTED,
            [("retry-after", "0")],
            json!({"accepted": 2}).to_string(),
        ),
        "/api/guilds/1/stats" => (
            StatusCode::OK,
            [("retry-after", "0")],
            json!({"guild_id":"1","window_seconds":86400,"members_joined":1,"members_left":0,
                   "messages":5,"actions":{"warn":1,"timeout":0,"kick":0,"ban":0}})
            .to_string(),
        ),
        "/api/guilds/1/moderation" if parts.method == "POST" => (
            StatusCode::CREATED,
            [("retry-after", "0")],
            json!({"id":42,"guild_id":"1","action":"warn","moderator_id":"2","target_id":"3",
                   "reason":"spam","created_at":"2026-11-23T01:00:00Z"})
            .to_string(),
        ),
        "/api/guilds/1/moderation" => (
            StatusCode::OK,
            [("retry-after", "0")],
            json!({"items":[],"next_cursor":null}).to_string(),
        ),
        "/api/guilds/503/stats" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "0")],
            json!({"error":{"code":"backend_unavailable","message":"backend down","field":null}})
                .to_string(),
        ),
        "/api/guilds/429/stats" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "9")],
            json!({"error":{"code":"rate_limited","message":"slow down","field":null}}).to_string(),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            [("retry-after", "0")],
            json!({"error":{"code":"invalid_id","message":"not a snowflake","field":"id"}})
                .to_string(),
        ),
    }
}

async fn start_stub() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new().fallback(stub).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

#[tokio::test]
async fn sends_the_documented_requests() {
    let (url, log) = start_stub().await;
    let client = GatewayClient::new(&format!("{url}/"), "secret-key").unwrap();

    let events = vec![
        GatewayEvent {
            kind: EventKind::MemberJoin,
            guild_id: 1,
            user_id: 3,
            occurred_at: "2026-11-23T01:00:00.000Z".into(),
        },
        GatewayEvent {
            kind: EventKind::MessageCreate,
            guild_id: 1,
            user_id: 3,
            occurred_at: "2026-11-23T01:00:01.000Z".into(),
        },
    ];
    assert_eq!(client.post_events(&events).await, Ok(2));
    let stats = client.guild_stats(1, "24h").await.unwrap();
    assert_eq!((stats.messages, stats.actions.warn), (5, 1));
    let recorded = client
        .record_moderation(
            1,
            &NewModerationAction {
                action: "warn".into(),
                moderator_id: 2,
                target_id: 3,
                reason: "spam".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(recorded.id, "42");
    let page = client.moderation_history(1, 3, 10).await.unwrap();
    assert!(page.items.is_empty());

    let seen = log.lock().unwrap().clone();
    let summary: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.uri.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST".into(), "/events".into()),
            ("GET".into(), "/api/guilds/1/stats?window=24h".into()),
            ("POST".into(), "/api/guilds/1/moderation".into()),
            (
                "GET".into(),
                "/api/guilds/1/moderation?target=3&limit=10".into()
            ),
        ]
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer secret-key"))
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen[0].body,
        Some(json!({"events": [
            {"type":"member_join","guild_id":"1","user_id":"3","occurred_at":"2026-11-23T01:00:00.000Z"},
            {"type":"message_create","guild_id":"1","user_id":"3","occurred_at":"2026-11-23T01:00:01.000Z"},
        ]}))
    );
    assert_eq!(
        seen[2].body,
        Some(json!({"action":"warn","moderator_id":"2","target_id":"3","reason":"spam"}))
    );
}

#[tokio::test]
async fn maps_errors_from_the_wire() {
    let (url, _log) = start_stub().await;
    let client = GatewayClient::new(&url, "k").unwrap();
    assert_eq!(
        client.guild_stats(503, "24h").await,
        Err(GatewayError::Unavailable {
            code: "backend_unavailable".into()
        })
    );
    assert_eq!(
        client.guild_stats(429, "24h").await,
        Err(GatewayError::RateLimited {
            retry_after: Some(Duration::from_secs(9))
        })
    );
    assert_eq!(
        client.guild_stats(7, "24h").await,
        Err(GatewayError::Rejected {
            status: 400,
            code: "invalid_id".into(),
            message: "not a snowflake".into(),
            field: Some("id".into()),
        })
    );
}

#[tokio::test]
async fn an_unreachable_gateway_is_reported_as_such() {
    // A port nothing listens on: bound, then released.
    let port = testkit::free_port();
    let client = GatewayClient::new(&format!("http://127.0.0.1:{port}"), "k").unwrap();
    assert!(matches!(
        client.guild_stats(1, "24h").await,
        Err(GatewayError::Unreachable(_))
    ));
    // Every call to the gateway is timed, a failed one with its error type.
    let metrics = telemetry::metrics::encode().unwrap();
    assert!(
        metrics.lines().any(|line| {
            line.starts_with("http_client_request_duration_seconds_count{")
                && line.contains(r#"server_address="127.0.0.1""#)
                && line.contains(r#"error_type="connect""#)
        }),
        "{metrics}"
    );
}
