//! The API's one error type: the errors any JSON API has
//! ([`json_api::RequestError`]) plus the database's, rendered as
//! `{"error": {"code", "message", "field"}}` with the matching status.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use json_api::{RequestError, server_error_response};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client's mistake: a bad field, not JSON, unknown route, ...
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
    /// A value the client sent is wrong; `field` names it (dotted path).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError::invalid(field, message).into()
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        RequestError::NotFound(message.into()).into()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Request(error) => error.status(),
            Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Request(error) => error.code(),
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
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
        match self {
            Self::Request(error) => error.into_response(),
            // The client gets the generic message; the cause chain is logged
            // once, with the route, by `json_api::log_server_errors`.
            Self::DatabaseUnavailable(_) | Self::Internal(_) => {
                server_error_response(self.status(), self.code(), &self.to_string(), &self)
            }
        }
    }
}
