//! The gateway's one error type, rendered as
//! `{"error": {"code", "message", "field"}}` with the matching status.

use std::{any::Any, time::Duration};

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("missing or invalid API key (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("rate limit exceeded: retry in {} s", retry_after_seconds(*.retry_after))]
    RateLimited { retry_after: Duration },
    #[error("the event queue is full: retry later")]
    QueueFull,
    #[error("the backend is unavailable")]
    BackendUnavailable,
    #[error("the backend did not answer in time")]
    UpstreamTimeout,
    #[error("the backend's answer could not be relayed")]
    BadGateway,
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the request took too long")]
    Timeout,
}

/// `Retry-After` is in whole seconds: round up, at least 1.
fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

impl GatewayError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidField { .. } | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::QueueFull | Self::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "invalid_field",
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::QueueFull => "queue_full",
            Self::BackendUnavailable => "backend_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::BadGateway => "bad_gateway",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "request_timeout",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code(),
                "message": self.to_string(),
                "field": self.field(),
            }
        });
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_seconds(retry_after)),
                );
            }
            Self::QueueFull | Self::BackendUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

pub async fn not_found() -> GatewayError {
    GatewayError::NotFound("no such route".to_owned())
}

pub async fn method_not_allowed() -> GatewayError {
    GatewayError::MethodNotAllowed
}

/// Gives a JSON body to the empty error responses of tower layers (timeout).
pub async fn ensure_json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    match status {
        StatusCode::REQUEST_TIMEOUT => GatewayError::Timeout.into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => GatewayError::PayloadTooLarge.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => GatewayError::MethodNotAllowed.into_response(),
        _ => {
            let body =
                json!({"error": {"code": "error", "message": status.to_string(), "field": null}});
            (status, Json(body)).into_response()
        }
    }
}

/// `CatchPanicLayer` handler: 500 JSON rather than a dropped connection.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    let body =
        json!({"error": {"code": "internal_error", "message": "internal error", "field": null}});
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
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
