//! The error envelope and the errors common to every JSON API.

use std::any::Any;

use axum::{
    Json,
    extract::{MatchedPath, Request},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// A client's mistake (or a request cut short) that any JSON API can meet.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A value the client sent is wrong; `field` names it (dotted path).
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// The body is not JSON at all (syntax error, truncated).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// Over the route's body limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The handler did not finish within the request timeout: the
    /// server's failure (503), not the client's (408 means the client was
    /// slow to send its request).
    #[error("the server did not finish handling the request in time")]
    Timeout,
}

impl RequestError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The 404 of a path no route matches.
    pub fn unknown_route() -> Self {
        Self::NotFound("no such route".to_owned())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidField { .. } | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::Timeout => "handler_timeout",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let mut response =
            error_response(self.status(), self.code(), &self.to_string(), self.field());
        if let Self::PayloadTooLarge = self {
            // The rest of the body was never read, so the connection cannot
            // carry another request: say so, or a client reusing it fails.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// `status` with the body `{"error": {"code", "message", "field"}}`.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = json!({"error": {"code": code, "message": message, "field": field}});
    (status, Json(body)).into_response()
}

/// What a server-side failure carries on its response (an extension, never
/// sent to the client) for [`log_server_errors`] to log with the route.
#[derive(Debug, Clone)]
pub struct ServerErrorCause {
    pub code: &'static str,
    /// The error and its sources, `top: cause: root cause`.
    pub error: String,
}

/// `status` with the error envelope (the generic `message` only), the
/// cause chain of `cause` attached for [`log_server_errors`].
pub fn server_error_response(
    status: StatusCode,
    code: &'static str,
    message: &str,
    cause: &(dyn std::error::Error + 'static),
) -> Response {
    let mut response = error_response(status, code, message, None);
    response.extensions_mut().insert(ServerErrorCause {
        code,
        error: error_chain(cause),
    });
    response
}

/// `error` and each of its sources, joined by `: `; a source whose text the
/// previous message already quotes (`"query failed: {0}"`) is not repeated.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    chain
}

/// Middleware: one `error` line per server-side failure, naming the route
/// (axum's template), the method, the status, the error code and the cause
/// chain. Client errors are the completion line's business (`warn`).
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    if let Some(cause) = response.extensions().get::<ServerErrorCause>() {
        tracing::error!(
            context = "HTTP",
            method = %method,
            route,
            status = response.status().as_u16(),
            code = cause.code,
            error = %cause.error,
            "{method} {route} failed: {}",
            cause.error
        );
    }
    response
}

/// `CatchPanicLayer` handler: a panic is a bug, answered 500 JSON (and
/// logged) rather than a dropped connection.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(
        context = "HTTP",
        error = detail,
        "handler panicked: {detail}"
    );
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error",
        None,
    )
}
