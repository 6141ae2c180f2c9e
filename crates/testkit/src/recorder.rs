//! An HTTP stand-in that records every request it receives (method and the
//! raw target, as sent on the wire) and answers each 200 `{}`: put it where
//! a service expects a peer to prove what reached the peer, and what did
//! not. Plus [`raw_request`], which writes a request target byte for byte
//! (an HTTP client would normalise `..` and `%2e%2e` before sending).

use std::sync::{Arc, Mutex, PoisonError};

use axum::{Router, extract::Request, http::StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the stand-in received: `GET /api/guilds/1?x=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub target: String,
}

/// See the module documentation. Runs until the test's runtime ends.
pub struct Recorder {
    url: String,
    received: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log = Arc::clone(&received);
        let app = Router::new().fallback(move |request: Request| {
            let log = Arc::clone(&log);
            async move {
                let target = request
                    .uri()
                    .path_and_query()
                    .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Recorded {
                        method: request.method().to_string(),
                        target,
                    });
                (StatusCode::OK, [("content-type", "application/json")], "{}")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot bind the recording stand-in: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            received,
        }
    }

    /// Base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Recorded> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// An answer read off the wire: status code and body (after the headers).
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `method target` to `127.0.0.1:port` with `headers` (each
/// `Name: value`) over a fresh connection, the target exactly as given,
/// and reads the answer to the end (`Connection: close`).
pub async fn raw_request(port: u16, method: &str, target: &str, headers: &[&str]) -> RawAnswer {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|error| panic!("connect to 127.0.0.1:{port}: {error}"));
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|error| panic!("write {target}: {error}"));
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .unwrap_or_else(|error| panic!("read the answer to {target}: {error}"));
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{target}: no HTTP answer: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{target}: no status line: {head:?}"));
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
