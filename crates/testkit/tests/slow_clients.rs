//! Slow clients against a real service (the gateway, the edge; every
//! service serves through `telemetry::server`): hundreds of connections
//! trickling their request head are closed after `HTTP_HEADER_READ_TIMEOUT_MS`
//! while normal requests are answered beside them, the connection limit
//! holds, and an idle keep-alive connection is closed too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use testkit::{Service, ServiceBuilder, assert_config_error, poll_until};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const HEADER_READ_TIMEOUT_MS: u64 = 1000;
const MAX_CONNECTIONS: usize = 100;
const SLOW_CLIENTS: usize = 300;
/// Generous: the 300 are served in three rounds of about one timeout each.
const DEADLINE: Duration = Duration::from_secs(120);

fn gateway() -> Service {
    ServiceBuilder::new("gateway")
        .env(
            "HTTP_HEADER_READ_TIMEOUT_MS",
            HEADER_READ_TIMEOUT_MS.to_string(),
        )
        .env("HTTP_MAX_CONNECTIONS", MAX_CONNECTIONS.to_string())
        .spawn()
}

fn address(service: &Service) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], service.port))
}

/// Sends a request line, then one header byte every 100 ms, never ending
/// the head; returns how long the connection lived once the server closed
/// it (read EOF, or a reset while writing).
async fn trickle(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /live HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .expect("request line");
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut buffer = [0; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                // The server's 408 is read first; then EOF.
                Ok(n) if n > 0 => {}
                _ => return started.elapsed(),
            },
            _ = ticks.tick() => {
                if stream.write_all(b"a").await.is_err() {
                    return started.elapsed();
                }
            }
        }
    }
}

/// A metric's value in a `/metrics` text, `None` when absent.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_clients_are_closed_while_normal_requests_are_answered() {
    let mut gateway = gateway();
    gateway.wait_live().await;
    let addr = address(&gateway);
    let closed = Arc::new(AtomicUsize::new(0));
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| {
            let closed = Arc::clone(&closed);
            tokio::spawn(async move {
                let lived = trickle(addr).await;
                closed.fetch_add(1, Ordering::SeqCst);
                lived
            })
        })
        .collect();

    // Beside them, a normal client scrapes /metrics until every slow
    // connection is closed: each scrape is answered (a new connection may
    // wait for a free slot), and none sees more open connections than the
    // limit.
    let done = Arc::new(AtomicBool::new(false));
    let normal = {
        let (done, url) = (Arc::clone(&done), gateway.url("/metrics"));
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(DEADLINE)
                .build()
                .unwrap();
            let (mut answered, mut most_open) = (0, 0.0_f64);
            // Paced, not to take the machine's cores from the server.
            let mut pace = tokio::time::interval(Duration::from_millis(50));
            while !done.load(Ordering::SeqCst) {
                pace.tick().await;
                let response = client.get(&url).send().await.expect("a normal request");
                assert_eq!(response.status(), 200);
                let text = response.text().await.unwrap();
                let open = metric(&text, "http_server_open_connections").expect("gauge exposed");
                assert!(
                    open <= MAX_CONNECTIONS as f64,
                    "{open} open connections, limit {MAX_CONNECTIONS}"
                );
                most_open = most_open.max(open);
                answered += 1;
            }
            (answered, most_open)
        })
    };

    poll_until(DEADLINE, "every trickling connection closed", || {
        let closed = closed.load(Ordering::SeqCst);
        async move { (closed == SLOW_CLIENTS).then_some(()) }
    })
    .await;
    done.store(true, Ordering::SeqCst);
    let (answered, most_open) = normal.await.unwrap();
    let mut lived = Vec::new();
    for client in slow {
        lived.push(client.await.unwrap());
    }
    lived.sort();

    let text = gateway.get_text("/metrics").await;
    let timeouts = metric(&text, "http_server_header_read_timeouts_total").unwrap();
    let limited = metric(&text, "http_server_connection_limit_reached_total").unwrap();
    assert!(
        timeouts >= SLOW_CLIENTS as f64,
        "{timeouts} header read timeouts"
    );
    assert!(limited >= 1.0, "the limit was reached: {limited}");
    assert!(answered >= 1);
    println!(
        "{SLOW_CLIENTS} trickling connections, limit {MAX_CONNECTIONS}, timeout \
         {HEADER_READ_TIMEOUT_MS} ms: closed after {:?} (first) .. {:?} (last, median {:?}); \
         {answered} normal requests answered beside them, at most {most_open} connections \
         open, the limit reached {limited} times",
        lived[0],
        lived[lived.len() - 1],
        lived[lived.len() / 2],
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_and_a_silent_one_are_closed() {
    let mut gateway = gateway();
    gateway.wait_live().await;
    let addr = address(&gateway);
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /live HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0; 4096];
    // Read the answer; the connection stays open (keep-alive) until the
    // server closes it for idling.
    let eof = loop {
        let n = tokio::time::timeout(DEADLINE, idle.read(&mut buffer))
            .await
            .expect("the idle connection is closed before the deadline")
            .unwrap_or(0);
        if n == 0 {
            break true;
        }
        response.extend_from_slice(&buffer[..n]);
    };
    let response = String::from_utf8_lossy(&response);
    assert!(eof && response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(!response.to_ascii_lowercase().contains("connection: close"));
    let n = tokio::time::timeout(DEADLINE, silent.read(&mut buffer))
        .await
        .expect("the silent connection is closed before the deadline")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
}

#[test]
fn bad_connection_settings_exit_2_naming_the_variable() {
    for service in ["backend", "gateway"] {
        assert_config_error(service, "HTTP_HEADER_READ_TIMEOUT_MS", "soon");
        assert_config_error(service, "HTTP_HEADER_READ_TIMEOUT_MS", "0");
        assert_config_error(service, "HTTP_MAX_CONNECTIONS", "-1");
        assert_config_error(service, "HTTP_MAX_CONNECTIONS", "0");
    }
}
