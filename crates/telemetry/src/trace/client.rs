//! The one outbound HTTP client every service uses for its calls to another
//! service (bot → gateway, gateway → backend): each request gets an
//! OpenTelemetry HTTP client span, child of the current span, and carries
//! that span's context in `traceparent`/`tracestate`/`baggage`.
//!
//! `reqwest-tracing` does this for older OpenTelemetry versions only, so the
//! headers are injected here with the global propagator.

use std::time::Duration;

use reqwest::{IntoUrl, Method, Request, RequestBuilder, Response};
use tracing::{Instrument as _, Span, field::Empty};

use super::{layer::method_name, propagation};

/// Default total timeout of one call: a hung upstream never hangs the caller.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A cheap-to-clone client (one connection pool) that traces every call.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// A client with a total timeout per call and a short connect timeout.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        // reqwest is built with rustls and no crypto provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()?;
        Ok(Self { inner })
    }

    /// Wraps a client configured elsewhere (proxies, TLS, headers).
    pub fn from_reqwest(inner: reqwest::Client) -> Self {
        Self { inner }
    }

    /// Starts a request; send it with [`HttpClient::send`] so it is traced.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        self.inner.request(method, url)
    }

    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Builds and sends `request` inside a client span.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, reqwest::Error> {
        self.execute(request.build()?).await
    }

    /// Sends `request` inside a client span, with the span's context in its
    /// headers. A status ≥ 400 or a transport error marks the span as error
    /// (for a client, a 4xx is a failed call); the response is returned
    /// unchanged either way.
    pub async fn execute(&self, mut request: Request) -> Result<Response, reqwest::Error> {
        let span = client_span(&request);
        propagation::inject(&super::head::context_of(&span), request.headers_mut());
        let mut labels = crate::http::ClientLabels {
            http_request_method: method_name(request.method()),
            server_address: request.url().host_str().unwrap_or_default().to_owned(),
            http_response_status_code: None,
            error_type: "",
        };
        let start = std::time::Instant::now();
        let outcome = self.inner.execute(request).instrument(span.clone()).await;
        match &outcome {
            Ok(response) => {
                let status = response.status();
                span.record("http.response.status_code", status.as_u16());
                labels.http_response_status_code = Some(status.as_u16());
                if status.is_client_error() || status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", status.as_str());
                    labels.error_type = status_class(status);
                }
            }
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", error_type(error));
                labels.error_type = error_type(error);
            }
        }
        // Inside the client span, so a sampled call is its bucket's exemplar.
        span.in_scope(|| crate::http::observe_client_call(&labels, start.elapsed()));
        outcome
    }
}

fn client_span(request: &Request) -> Span {
    let method = method_name(request.method());
    let url = request.url();
    tracing::info_span!(
        "HTTP call",
        otel.name = method,
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = method,
        http.response.status_code = Empty,
        url.full = %full_url(url),
        server.address = url.host_str(),
        server.port = url.port_or_known_default(),
        error.type = Empty,
    )
}

/// The URL without credentials (the conventions forbid them in `url.full`).
fn full_url(url: &reqwest::Url) -> String {
    let url = url.as_str();
    crate::secrets::sanitize_url(url).into_owned()
}

/// `error.type` of a failed status as a bounded label value.
fn status_class(status: reqwest::StatusCode) -> &'static str {
    if status.is_server_error() {
        "5xx"
    } else {
        "4xx"
    }
}

fn error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_url_full() {
        let url = reqwest::Url::parse("http://user:secret@backend:3000/api?x=1").unwrap();
        assert_eq!(
            full_url(&url),
            "http://REDACTED:REDACTED@backend:3000/api?x=1"
        );
    }
}
