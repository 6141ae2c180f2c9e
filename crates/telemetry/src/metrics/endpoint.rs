//! `GET /metrics`: the registry in the OpenMetrics text format (with
//! exemplars) when the scraper asks for it with
//! `Accept: application/openmetrics-text` (Prometheus does), the classic
//! Prometheus text format (0.0.4) otherwise; optionally behind a bearer
//! token.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

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

    /// Whether a request with `headers` may read what the token guards:
    /// always when no token is set, else with `Authorization: Bearer <token>`.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        self.token
            .as_ref()
            .is_none_or(|token| bearer_matches(headers, token))
    }
}

/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic Prometheus text format.
pub const CLASSIC_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: exemplars, `# EOF`.
    OpenMetrics,
    /// Prometheus text 0.0.4: no exemplars.
    Classic,
}

impl Format {
    /// OpenMetrics when `accept` lists it and prefers it at least as much
    /// as the classic text (q-values honoured), classic otherwise.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Classic;
        };
        let mut openmetrics: Option<f32> = None;
        let mut classic: Option<f32> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|param| param.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match media.as_str() {
                "application/openmetrics-text" => &mut openmetrics,
                "text/plain" => &mut classic,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |best| best.max(q)));
        }
        match openmetrics {
            Some(q) if q > 0.0 && q >= classic.unwrap_or(0.0) => Self::OpenMetrics,
            _ => Self::Classic,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::Classic => CLASSIC_CONTENT_TYPE,
        }
    }
}

/// The registry in the classic Prometheus text format.
pub fn encode() -> Result<String, std::fmt::Error> {
    encode_as(Format::Classic)
}

/// The registry in `format`.
pub fn encode_as(format: Format) -> Result<String, std::fmt::Error> {
    let mut body = String::with_capacity(16 * 1024);
    super::registry::with_registry(|registry| match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut body, registry),
        Format::Classic => {
            prometheus_client::encoding::prometheus_text::encode(&mut body, registry)
        }
    })?;
    Ok(body)
}

/// Handler for `GET /metrics`.
pub async fn metrics_handler(State(config): State<MetricsConfig>, headers: HeaderMap) -> Response {
    if !config.authorizes(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required (METRICS_TOKEN)\n",
        )
            .into_response();
    }
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    match encode_as(format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
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
    fn openmetrics_only_when_asked_for_and_preferred() {
        // What Prometheus 2.55 and 3.x send by default.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Classic);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Classic);
        assert_eq!(
            Format::negotiate(Some("text/plain, application/openmetrics-text;q=0.5")),
            Format::Classic
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Classic
        );
    }

    #[test]
    fn debug_never_prints_the_token() {
        let config = MetricsConfig {
            token: Some("hunter2".to_owned()),
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
