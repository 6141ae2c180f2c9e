//! The tower layer: metrics, request id and the completion log line.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

use super::{
    labels::{method_label, route_label},
    metrics::{InFlight, SERVER_DURATION, ServerLabels},
    request_id::{REQUEST_ID_HEADER, RequestId},
};

/// Probe and scrape routes: logged at `debug` so they do not drown the
/// request log (Kubernetes and Prometheus call them every few seconds).
const PROBE_ROUTES: &[&str] = &["/live", "/ready", "/health", "/metrics"];

/// The layer (see the module documentation).
pub fn layer() -> HttpObservabilityLayer {
    HttpObservabilityLayer
}

#[derive(Debug, Clone, Copy, Default)]
pub struct HttpObservabilityLayer;

impl<S> Layer<S> for HttpObservabilityLayer {
    type Service = HttpObservability<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpObservability { inner }
    }
}

#[derive(Debug, Clone)]
pub struct HttpObservability<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpObservability<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        let start = Instant::now();
        let in_flight = InFlight::start();
        let method = method_label(request.method());
        let route = route_label(&request);
        let request_id = RequestId::from_headers(request.headers());
        // Also on the request itself, so a handler that forwards the incoming
        // headers upstream carries the id the log line shows.
        if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
            request.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        request.extensions_mut().insert(request_id.clone());

        Box::pin(async move {
            let result = inner.call(request).await;
            drop(in_flight);
            let mut response = result?;
            let elapsed = start.elapsed();
            let status = response.status().as_u16();
            let labels = ServerLabels {
                http_request_method: method,
                http_route: route,
                http_response_status_code: status,
            };
            // Observed here, inside the server span: a sampled request
            // becomes the exemplar of its bucket.
            SERVER_DURATION.observe(&labels, elapsed.as_secs_f64());
            let route = labels.http_route;
            if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            log_completion(method, &route, status, duration_ms, &request_id);
            Ok(response)
        })
    }
}

/// One line per request: `debug` for probes whatever their status (a 503 on
/// `/ready` is the probe doing its job; the health module logs state changes),
/// else `error` for 5xx, `warn` for 4xx, `info` otherwise.
fn log_completion(method: &str, route: &str, status: u16, duration_ms: u64, id: &RequestId) {
    let request_id = id.as_str();
    macro_rules! completed {
        ($level:ident) => {
            tracing::$level!(
                context = "HTTP",
                method,
                route,
                status,
                duration_ms,
                request_id,
                "completed in {duration_ms}ms"
            )
        };
    }
    match status {
        _ if PROBE_ROUTES.contains(&route) => completed!(debug),
        500.. => completed!(error),
        400..=499 => completed!(warn),
        _ => completed!(info),
    }
}
