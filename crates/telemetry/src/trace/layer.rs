//! The inbound tower layer: one OpenTelemetry HTTP server span per request,
//! child of the caller's span when the request carries `traceparent`.
//!
//! Layer order in a service (outermost first), all applied with
//! `Router::layer` so axum's `MatchedPath` is known:
//!
//! ```text
//! Router::new()
//!     .merge(routes)
//!     .merge(ops.router())
//!     .layer(telemetry::http::layer())   // metrics, x-request-id, request log
//!     .layer(telemetry::trace::layer())  // this span (outermost)
//! ```
//!
//! `Router::layer` wraps what is already there, so the last call is the
//! outermost: the request log and the metrics layer run inside this span
//! and their lines carry its `trace_id`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::extract::MatchedPath;
use http::{Request, Response, header};
use tower::{Layer, Service};
use tracing::{Instrument as _, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{
    limits::{MAX_HOST_BYTES, MAX_PATH_BYTES, MAX_USER_AGENT_BYTES, truncate},
    propagation,
};

/// The layer; see the module documentation for where it goes.
pub fn layer() -> HttpTraceLayer {
    HttpTraceLayer
}

#[derive(Debug, Clone, Copy, Default)]
pub struct HttpTraceLayer;

impl<S> Layer<S> for HttpTraceLayer {
    type Service = HttpTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTrace { inner }
    }
}

/// The service [`HttpTraceLayer`] produces.
#[derive(Debug, Clone)]
pub struct HttpTrace<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for HttpTrace<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // A malformed or absent `traceparent` yields an empty context: the
        // span becomes the root of a new trace. Never an error.
        let parent = propagation::extract(request.headers());
        let span = super::head::with_remote_parent(&parent, || server_span(&request));
        let _ = span.set_parent(parent);
        let future = span.in_scope(|| self.inner.call(request));
        Box::pin(async move {
            let outcome = future.instrument(span.clone()).await;
            match outcome {
                Ok(mut response) => {
                    record_status(&span, response.status());
                    propagation::inject_trace_context(
                        &super::head::context_of(&span),
                        response.headers_mut(),
                    );
                    Ok(response)
                }
                Err(error) => {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", "internal");
                    tracing::error!(parent: &span, context = "HTTP", error = %error, "request failed");
                    Err(error)
                }
            }
        })
    }
}

/// The server span, named and attributed per the OpenTelemetry HTTP
/// semantic conventions: `{method} {route}` (the route template, never the
/// raw path, to keep span names low-cardinality).
fn server_span<B>(request: &Request<B>) -> Span {
    let method = method_name(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    // Formatted only by whoever records it: the OpenTelemetry layer, for a
    // sampled span (the log outputs skip `otel.*`).
    let name = SpanName {
        method,
        route: route.as_deref(),
    };
    let (address, port) = server_address(request);
    // Header- and path-derived values are bounded: they reach every log
    // line of the request and the exported span (see `limits`).
    let address = address.map(|host| truncate(&host, MAX_HOST_BYTES).into_owned());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| truncate(agent, MAX_USER_AGENT_BYTES));
    let path = truncate(request.uri().path(), MAX_PATH_BYTES);
    tracing::info_span!(
        "HTTP request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route.as_deref(),
        http.response.status_code = Empty,
        url.path = &*path,
        url.scheme = request.uri().scheme_str().unwrap_or("http"),
        server.address = address,
        server.port = port,
        user_agent.original = user_agent.as_deref(),
        network.protocol.version = protocol_version(request.version()),
        error.type = Empty,
    )
}

/// `{method} {route}`, or the method alone when no route matched.
struct SpanName<'a> {
    method: &'static str,
    route: Option<&'a str>,
}

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.route {
            Some(route) => write!(f, "{} {route}", self.method),
            None => f.write_str(self.method),
        }
    }
}

/// Server spans are errors on 5xx only: a 4xx is the client's mistake.
fn record_status(span: &Span, status: http::StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", status.as_str());
    }
}

/// The method as the conventions want it: one of the known methods, or
/// `_OTHER` (an arbitrary method would make the span name unbounded).
pub(crate) fn method_name(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// `server.address` and `server.port` from the `Host` header (HTTP/1.1) or
/// the URI authority (HTTP/2).
fn server_address<B>(request: &Request<B>) -> (Option<String>, Option<u16>) {
    let authority = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| host.parse::<http::uri::Authority>().ok())
        .or_else(|| request.uri().authority().cloned());
    match authority {
        Some(authority) => (Some(authority.host().to_owned()), authority.port_u16()),
        None => (None, None),
    }
}

fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_collapse_to_other() {
        assert_eq!(method_name(&http::Method::GET), "GET");
        let custom = http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_name(&custom), "_OTHER");
    }

    #[test]
    fn header_and_path_attributes_are_bounded() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let output = crate::logging::CapturedOutput::new();
        let meta = std::sync::Arc::new(crate::logging::ServiceMeta::with_host(
            crate::ServiceInfo {
                name: "backend",
                version: "1",
            },
            crate::config::Environment::Staging,
            "host",
            1,
        ));
        let layer = crate::logging::ConsoleLayer::new(
            output.clone(),
            crate::logging::ConsoleStyle::Json,
            meta,
            crate::logging::Redactor::default(),
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        let request = Request::builder()
            .uri(format!("/{}", "p".repeat(5000)))
            .header("user-agent", "u".repeat(300_000))
            .header("host", format!("{}.example.com", "h".repeat(60_000)))
            .body(())
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = server_span(&request);
            let _entered = span.enter();
            tracing::info!("inside");
        });
        let line = output.text();
        let record: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        let field = |name: &str| record[name].as_str().unwrap().to_owned();
        assert_eq!(
            field("user_agent.original"),
            format!("{}…", "u".repeat(256))
        );
        assert_eq!(field("url.path").len(), MAX_PATH_BYTES + "…".len());
        assert_eq!(field("server.address").len(), MAX_HOST_BYTES + "…".len());
        assert!(line.len() < 4096, "{} bytes", line.len());
    }

    #[test]
    fn server_address_comes_from_the_host_header() {
        let request = Request::builder()
            .uri("/api")
            .header("host", "api.example.com:8443")
            .body(())
            .unwrap();
        assert_eq!(
            server_address(&request),
            (Some("api.example.com".to_owned()), Some(8443))
        );
        let bare = Request::builder().uri("/api").body(()).unwrap();
        assert_eq!(server_address(&bare), (None, None));
    }
}
