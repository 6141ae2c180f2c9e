//! A stand-in for Discord's REST API (reached through the bot's
//! `DISCORD_API_PROXY`) that refuses every token, as Discord does with a
//! revoked one: the bot then stays up, serving its probes, not ready.

use axum::{Router, http::StatusCode};

/// Starts the stand-in on an ephemeral loopback port; returns its base URL.
/// It runs until the test's runtime ends.
pub async fn refusing_tokens() -> String {
    let app = Router::new().fallback(|| async {
        (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"message": "401: Unauthorized", "code": 0}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|error| panic!("cannot bind the Discord stand-in: {error}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|error| panic!("local_addr: {error}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
