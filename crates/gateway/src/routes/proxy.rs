//! `/api/*`: relayed to the backend as is (method, path, query, body and the
//! headers that describe them); the backend's answer is relayed back.

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
