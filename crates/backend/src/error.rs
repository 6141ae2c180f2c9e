//! The API's one error type, rendered as
//! `{"error": {"code", "message", "field"}}` with the matching status.

use std::any::Any;

use axum::{
    Json,
    body::Body,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A value the client sent is wrong; `field` names it (dotted path).
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// The body is not JSON at all (syntax error, truncated).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// Over the route's body limit (1 MiB; 4 MiB for `/api/events`).
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the request took too long")]
    Timeout,
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
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
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "invalid_field",
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "request_timeout",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            Self::DatabaseUnavailable(error)
        } else {
            Self::Internal(error)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Server-side causes are logged here, once, with their source; the
        // client gets the generic message only.
        if let Self::DatabaseUnavailable(source) | Self::Internal(source) = &self {
            tracing::error!(error = %source, code = self.code(), "request failed");
        }
        let body = json!({
            "error": {
                "code": self.code(),
                "message": self.to_string(),
                "field": self.field(),
            }
        });
        (self.status(), Json(body)).into_response()
    }
}

/// Fallback for unknown routes: 404 JSON.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

/// Fallback for a known route with another method: 405 JSON.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Gives a JSON body to error responses produced below the handlers by tower
/// layers (timeout, body limit), which answer with an empty body.
pub async fn ensure_json_errors(response: Response) -> Response {
    let status = response.status();
    let has_body_type = response.headers().contains_key(header::CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error()) || has_body_type {
        return response;
    }
    let error = match status {
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::NOT_FOUND => ApiError::NotFound("no such route".to_owned()),
        _ => {
            let (mut parts, _) = response.into_parts();
            let code = status
                .canonical_reason()
                .unwrap_or("error")
                .chars()
                .filter_map(|c| match c {
                    ' ' | '-' => Some('_'),
                    c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
                    _ => None,
                })
                .collect::<String>();
            let body =
                json!({"error": {"code": code, "message": status.to_string(), "field": null}});
            parts.headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            return Response::from_parts(parts, Body::from(body.to_string()));
        }
    };
    let (parts, _) = response.into_parts();
    let mut json = error.into_response();
    // Keep headers the layer set (e.g. `Allow`), but the JSON content type.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// `CatchPanicLayer` handler: a panic is a bug, answered 500 JSON (and logged)
/// rather than a dropped connection.
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

    async fn json_of(response: Response) -> (StatusCode, serde_json::Value) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn empty_layer_errors_get_a_json_body() {
        let timeout = StatusCode::REQUEST_TIMEOUT.into_response();
        let (status, body) = json_of(ensure_json_errors(timeout).await).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "request_timeout");
        let teapot = StatusCode::IM_A_TEAPOT.into_response();
        let (_, body) = json_of(ensure_json_errors(teapot).await).await;
        assert_eq!(body["error"]["code"], "im_a_teapot");
    }

    #[tokio::test]
    async fn panics_become_500_json() {
        let (status, body) = json_of(panic_response(Box::new("boom"))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal_error");
    }
}
