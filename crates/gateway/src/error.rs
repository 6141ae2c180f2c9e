//! The gateway's one error type: the errors any JSON API has
//! ([`json_api::RequestError`]) plus the edge's own, rendered as
//! `{"error": {"code", "message", "field"}}` with the matching status.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use json_api::{RequestError, error_response, server_error_response};

use crate::{clients::backend::UpstreamError, scope::Scope};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The client's mistake: a bad field, not JSON, unknown route, ...
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("missing or invalid API key (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("this API key lacks the `{scope}` scope this route needs")]
    Forbidden { scope: Scope },
    #[error("rate limit exceeded: retry in {} s", retry_after_seconds(*.retry_after))]
    RateLimited { retry_after: Duration },
    #[error("too many failed authentications from this address: retry in {} s", retry_after_seconds(*.retry_after))]
    AuthFailuresLimited { retry_after: Duration },
    #[error("the event queue is full: retry later")]
    QueueFull,
    #[error("the backend is unavailable")]
    BackendUnavailable(#[source] UpstreamError),
    #[error("the backend did not answer in time")]
    UpstreamTimeout(#[source] UpstreamError),
    #[error("the backend's answer could not be relayed")]
    BadGateway(#[source] UpstreamError),
}

/// `Retry-After` is in whole seconds: round up, at least 1.
fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

impl GatewayError {
    /// A value the client sent is wrong; `field` names it (dotted path).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError::invalid(field, message).into()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Request(error) => error.status(),
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::AuthFailuresLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::QueueFull | Self::BackendUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Request(error) => error.code(),
            Self::Unauthorized => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::AuthFailuresLimited { .. } => "auth_rate_limited",
            Self::QueueFull => "queue_full",
            Self::BackendUnavailable(_) => "backend_unavailable",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::BadGateway(_) => "bad_gateway",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        if let Self::Request(error) = self {
            return error.into_response();
        }
        let mut response = match &self {
            // A failing upstream: the cause chain is logged once, with the
            // route, by `json_api::log_server_errors`.
            Self::BackendUnavailable(_) | Self::UpstreamTimeout(_) | Self::BadGateway(_) => {
                server_error_response(self.status(), self.code(), &self.to_string(), &self)
            }
            // The envelope plus the scope the key needs, machine-readable.
            Self::Forbidden { scope } => {
                let body = serde_json::json!({"error": {
                    "code": self.code(),
                    "message": self.to_string(),
                    "field": null,
                    "scope": scope.as_str(),
                }});
                (self.status(), axum::Json(body)).into_response()
            }
            _ => error_response(self.status(), self.code(), &self.to_string(), None),
        };
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after } | Self::AuthFailuresLimited { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_seconds(retry_after)),
                );
            }
            Self::QueueFull | Self::BackendUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
    }
}
