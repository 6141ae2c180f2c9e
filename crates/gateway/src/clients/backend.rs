//! The one HTTP client to the backend. Every outbound call goes through
//! [`BackendClient::send`]: one place for the timeout and the retry policy;
//! `telemetry::trace::HttpClient` adds the client span (its context travels
//! in `traceparent`) and `http_client_request_duration_seconds`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::body::Bytes;
use http::{HeaderMap, Method};

/// Pauses before the retries of an idempotent request: short, so a request
/// to a backend that is down still fails fast.
const RETRY_BACKOFF: [Duration; 2] = [Duration::from_millis(25), Duration::from_millis(75)];
/// After a failed connection, requests within this period are not retried:
/// the backend is known to be down, so the 503 is immediate. Each request
/// still tries once, so the gateway notices the backend's return by itself.
const KNOWN_DOWN_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (refused, unreachable, reset before the
    /// request was sent): the backend is down.
    #[error("backend unreachable: {0}")]
    Unavailable(#[source] reqwest::Error),
    #[error("backend timed out: {0}")]
    Timeout(#[source] reqwest::Error),
    #[error("backend call failed: {0}")]
    Failed(#[source] reqwest::Error),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl UpstreamError {
    fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_connect() {
            Self::Unavailable(error)
        } else if error.is_timeout() {
            Self::Timeout(error)
        } else {
            Self::Failed(error)
        }
    }
}

/// A relayed response: status, headers, whole body (bounded by the backend).
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct BackendClient {
    http: telemetry::trace::HttpClient,
    base_url: String,
    /// When the last connection failed, in ms since `epoch` (0: never).
    last_unreachable_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl BackendClient {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, UpstreamError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A backend that is down refuses at once; one that is unreachable
            // must not hold a request for the whole timeout either.
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_idle_timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(UpstreamError::Build)?;
        Ok(Self {
            http: telemetry::trace::HttpClient::from_reqwest(http),
            base_url: base_url.trim_end_matches('/').to_owned(),
            last_unreachable_ms: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `method path_and_query` with `headers` and `body`. Idempotent
    /// methods (GET, HEAD, PUT) are retried when the backend is unreachable
    /// or answers 503, unless a connection failed within [`KNOWN_DOWN_FOR`];
    /// others are sent once (a retry could apply them twice).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let url = format!("{}{path_and_query}", self.base_url);
        let retries = if is_idempotent(&method) && !self.known_down() {
            RETRY_BACKOFF.as_slice()
        } else {
            &[]
        };
        let mut attempt = 0;
        loop {
            let result = self.send_once(&method, &url, &headers, body.clone()).await;
            let unreachable = matches!(result, Err(UpstreamError::Unavailable(_)));
            if unreachable {
                self.mark_unreachable();
            }
            let retryable = unreachable
                || matches!(&result, Ok(response) if response.status == http::StatusCode::SERVICE_UNAVAILABLE);
            match retries.get(attempt) {
                Some(pause) if retryable => {
                    attempt += 1;
                    tokio::time::sleep(*pause).await;
                }
                _ => return result,
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_unreachable(&self) {
        // +1 so that a failure in the very first millisecond is not "never".
        self.last_unreachable_ms
            .store(self.now_ms() + 1, Ordering::Relaxed);
    }

    fn known_down(&self) -> bool {
        let last = self.last_unreachable_ms.load(Ordering::Relaxed);
        let window = u64::try_from(KNOWN_DOWN_FOR.as_millis()).unwrap_or(u64::MAX);
        last != 0 && self.now_ms() + 1 < last.saturating_add(window)
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let request = self
            .http
            .request(method.clone(), url)
            .headers(headers.clone())
            .body(body);
        async {
            let response = self.http.send(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok(UpstreamResponse {
                status,
                headers,
                body,
            })
        }
        .await
        .map_err(UpstreamError::from_reqwest)
    }
}

fn is_idempotent(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::PUT].contains(method)
}
