//! What wraps every JSON API's router so that no answer is plain text, no
//! request hangs and no panic drops a connection.

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer};

use crate::{RequestError, error::panic_response, error_response};

/// What the timeout layer answers (with an empty body, which
/// [`ensure_json_errors`] turns into [`RequestError::Timeout`]).
const TIMEOUT_STATUS: StatusCode = StatusCode::SERVICE_UNAVAILABLE;

/// `router` with 404/405 JSON fallbacks, a default body limit, a request
/// timeout (503 JSON `handler_timeout`: the server ran out of time, so not
/// 408, which says the client was slow), JSON bodies for the layers' empty error responses,
/// and panics answered 500 JSON. Routes may set their own `DefaultBodyLimit`.
pub fn with_seatbelts(router: Router, body_limit: usize, request_timeout: Duration) -> Router {
    router
        .fallback(|| async { RequestError::unknown_route() })
        .method_not_allowed_fallback(|| async { RequestError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        // Inside the routes (MatchedPath is set), so the line names the route.
        .route_layer(middleware::from_fn(crate::log_server_errors))
        .layer(TimeoutLayer::with_status_code(
            TIMEOUT_STATUS,
            request_timeout,
        ))
        // Outside the timeout, so its empty 503 gets a JSON body too.
        .layer(middleware::map_response(ensure_json_errors))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// Gives a JSON body to error responses produced below the handlers by tower
/// layers (timeout, body limit), which answer with an empty body.
async fn ensure_json_errors(response: Response) -> Response {
    let status = response.status();
    let has_body_type = response.headers().contains_key(header::CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error()) || has_body_type {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut json = match status {
        // Handlers answer 503 with a body; only the timeout layer's is empty.
        TIMEOUT_STATUS => RequestError::Timeout.into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => RequestError::PayloadTooLarge.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => RequestError::MethodNotAllowed.into_response(),
        StatusCode::NOT_FOUND => RequestError::unknown_route().into_response(),
        _ => error_response(status, &status_code_name(status), &status.to_string(), None),
    };
    // Keep headers the layer set (e.g. `Allow`), but the JSON content type.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// `418 I'm a teapot` → `im_a_teapot`: an identifier for a bare status.
fn status_code_name(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .chars()
        .filter_map(|c| match c {
            ' ' | '-' => Some('_'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
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
        let timeout = TIMEOUT_STATUS.into_response();
        let (status, body) = json_of(ensure_json_errors(timeout).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "handler_timeout");
        let teapot = StatusCode::IM_A_TEAPOT.into_response();
        let (status, body) = json_of(ensure_json_errors(teapot).await).await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(body["error"]["code"], "im_a_teapot");
        assert_eq!(body["error"]["field"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn panics_become_500_json() {
        let (status, body) = json_of(panic_response(Box::new("boom"))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal_error");
    }
}
