//! `/api/*`: relayed to the backend as is (method, path, query, body and the
//! headers that describe them); the backend's answer is relayed back.
//!
//! Only the backend's API is reachable: a path whose segments, once
//! percent-decoded, are `.` or `..` or hold a slash or a backslash is
//! refused (400) before any backend call. The URL parser that builds the
//! backend request resolves such segments (`/api/%2e%2e/metrics` becomes
//! `/metrics`), which would let a client reach the backend's operational
//! routes through the gateway.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, header},
    response::{IntoResponse, Response},
};

use json_api::read_body;

use crate::{app::AppState, clients::backend::UpstreamError, error::GatewayError};

/// Request headers worth passing on (never `Authorization`: the API key is
/// the gateway's business, not the backend's).
const FORWARDED_REQUEST_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("x-request-id"),
    // Honoured by a development backend only (see the backend's `faults`).
    HeaderName::from_static("x-demo-fault"),
];
const RELAYED_RESPONSE_HEADERS: [HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::RETRY_AFTER,
    HeaderName::from_static("x-request-id"),
];

pub async fn forward(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, GatewayError> {
    api_path(request.uri().path())?;
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let headers = pick(request.headers(), &FORWARDED_REQUEST_HEADERS);
    let body = read_body(request, &()).await?;
    let upstream = state
        .backend
        .send(method, &path_and_query, headers, body)
        .await
        .map_err(|error| match error {
            UpstreamError::Unavailable(_) => GatewayError::BackendUnavailable(error),
            UpstreamError::Timeout(_) => GatewayError::UpstreamTimeout(error),
            UpstreamError::Failed(_) | UpstreamError::Build(_) => GatewayError::BadGateway(error),
        })?;
    let mut response = (upstream.status, upstream.body).into_response();
    *response.headers_mut() = pick(&upstream.headers, &RELAYED_RESPONSE_HEADERS);
    Ok(response)
}

fn pick(headers: &HeaderMap, names: &[HeaderName]) -> HeaderMap {
    let mut picked = HeaderMap::new();
    for name in names {
        if let Some(value) = headers.get(name) {
            picked.insert(name.clone(), value.clone());
        }
    }
    picked
}

/// Accepts `path` when every segment after `/api/` is a plain name: not
/// `.` or `..` (in any percent-encoding), no encoded `/` or `\`, no raw
/// `\`, valid percent-encoding.
fn api_path(path: &str) -> Result<(), GatewayError> {
    let refuse = |why: &str| {
        GatewayError::invalid(
            "path",
            format!("{why}: only the API's own paths are relayed"),
        )
    };
    let segments = path
        .strip_prefix("/api/")
        .ok_or_else(|| refuse("not an API path"))?;
    for segment in segments.split('/') {
        let decoded =
            percent_decode(segment).ok_or_else(|| refuse("malformed percent-encoding"))?;
        if decoded == b"." || decoded == b".." {
            return Err(refuse("dot segments are not allowed"));
        }
        if decoded.iter().any(|byte| matches!(byte, b'/' | b'\\')) {
            return Err(refuse("encoded slashes and backslashes are not allowed"));
        }
    }
    Ok(())
}

/// `segment` with its `%XX` escapes decoded; `None` when one is malformed.
fn percent_decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(byte);
            at += 1;
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_pass() {
        for path in [
            "/api/guilds/1",
            "/api/guilds/1/stats",
            "/api/guilds/1/moderation",
            "/api/a%20b",
            "/api/...",
            "/api/.hidden",
            "/api/%252e%252e",
        ] {
            assert!(api_path(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn dot_segments_slashes_and_backslashes_are_refused() {
        for path in [
            "/api/..",
            "/api/.",
            "/api/../health",
            "/api/./metrics",
            "/api/%2e%2e/metrics",
            "/api/%2E%2E/metrics",
            "/api/.%2e/metrics",
            "/api/%2e./metrics",
            "/api/foo/%2E%2E/%2e%2e/metrics",
            "/api/..%2fmetrics",
            "/api/guilds%2F..%2F..%2Fmetrics",
            "/api/..\\metrics",
            "/api/foo\\..\\..\\metrics",
            "/api/%5c..%5cmetrics",
            "/api/%zz",
            "/api/%2",
            "/metrics",
        ] {
            let error = api_path(path).expect_err(path);
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST, "{path}");
        }
    }
}
