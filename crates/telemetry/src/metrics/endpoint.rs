//! `GET /metrics`: the default registry in the Prometheus text format,
//! optionally behind a bearer token.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use prometheus::{Encoder, TextEncoder};

use crate::config::{ConfigError, var};

/// Settings of the `/metrics` endpoint.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// `METRICS_TOKEN`: when set, `/metrics` requires
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl MetricsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            token: var("METRICS_TOKEN").map(|token| token.trim().to_owned()),
        })
    }
}

/// The default registry, encoded as Prometheus text.
pub fn encode() -> Result<String, prometheus::Error> {
    TextEncoder::new().encode_to_string(&prometheus::gather())
}

/// Handler for `GET /metrics`.
pub async fn metrics_handler(State(config): State<MetricsConfig>, headers: HeaderMap) -> Response {
    if let Some(token) = &config.token
        && !bearer_matches(&headers, token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required (METRICS_TOKEN)\n",
        )
            .into_response();
    }
    match encode() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                TextEncoder::new().format_type().to_owned(),
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(context = "Metrics", %error, "cannot encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response()
        }
    }
}

fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares without an early exit, so response time does not leak how much
/// of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn debug_never_prints_the_token() {
        let config = MetricsConfig {
            token: Some("hunter2".to_owned()),
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
