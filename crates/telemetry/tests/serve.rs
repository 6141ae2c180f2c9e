//! `telemetry::serve` in-process: in-flight requests finish after the grace
//! period, and a request slower than the drain deadline does not hold the
//! process hostage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::get};
use telemetry::{
    Shutdown,
    server::ServerConfig,
    shutdown::{Phase, ShutdownConfig},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Notify,
};

/// A router whose `/wait` handler signals `entered`, then sleeps `delay`.
fn app(entered: Arc<Notify>, delay: Duration) -> Router {
    Router::new().route(
        "/wait",
        get(move || {
            let entered = entered.clone();
            async move {
                entered.notify_one();
                tokio::time::sleep(delay).await;
                "done"
            }
        }),
    )
}

/// Sends one HTTP/1.1 request on a new connection; returns the raw response
/// (empty when the server closed the connection without answering).
async fn request(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

async fn start(
    delay: Duration,
    timeout: Duration,
) -> (
    std::net::SocketAddr,
    Shutdown,
    Arc<Notify>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(ShutdownConfig {
        grace: Duration::ZERO,
        timeout,
    });
    let entered = Arc::new(Notify::new());
    let server = {
        let (shutdown, router) = (shutdown.clone(), app(entered.clone(), delay));
        tokio::spawn(async move {
            telemetry::serve(listener, router, &shutdown, ServerConfig::default()).await
        })
    };
    (addr, shutdown, entered, server)
}

#[tokio::test]
async fn an_in_flight_request_completes_then_new_connections_are_refused() {
    let (addr, shutdown, entered, server) =
        start(Duration::from_millis(300), Duration::from_secs(30)).await;
    let in_flight = tokio::spawn(request(addr, "/wait"));
    entered.notified().await;
    shutdown.begin();
    let response = in_flight.await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns once drained")
        .unwrap()
        .unwrap();
    assert_eq!(shutdown.phase(), Phase::Stopping);
    assert!(
        request(addr, "/wait").await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn the_drain_deadline_abandons_a_request_that_would_never_finish() {
    let (addr, shutdown, entered, server) =
        start(Duration::from_secs(3600), Duration::from_millis(200)).await;
    let stuck = tokio::spawn(request(addr, "/wait"));
    entered.notified().await;
    shutdown.begin();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns at the drain deadline")
        .unwrap()
        .unwrap();
    // `serve` gave up on it: the process exits next, and the runtime's
    // shutdown drops the connection task with it.
    assert!(
        !stuck.is_finished(),
        "the stuck request never got an answer"
    );
    stuck.abort();
}

#[tokio::test]
async fn during_the_grace_period_answers_ask_clients_to_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(ShutdownConfig {
        grace: Duration::from_secs(3600),
        timeout: Duration::from_secs(1),
    });
    let router = app(Arc::new(Notify::new()), Duration::ZERO);
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            telemetry::serve(listener, router, &shutdown, ServerConfig::default()).await
        })
    };
    let keep_alive = |addr| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /wait HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = vec![0; 4096];
        let n = stream.read(&mut buffer).await.unwrap();
        String::from_utf8_lossy(&buffer[..n]).to_ascii_lowercase()
    };
    assert!(!keep_alive(addr).await.contains("connection: close"));
    shutdown.begin();
    let response = keep_alive(addr).await;
    assert!(response.starts_with("http/1.1 200"), "{response}");
    assert!(response.contains("connection: close"), "{response}");
    server.abort();
}
