//! Bounded label values: the route template, never the raw path.

use axum::extract::MatchedPath;
use http::{Method, Request};

/// `route` of a request that matched no route (404s from scanners): one
/// series for all of them instead of one per URL.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// axum's matched route template (`/api/guilds/{id}`), or [`UNMATCHED_ROUTE`].
pub fn route_label<B>(request: &Request<B>) -> String {
    request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    )
}

/// The method, or `other` for an extension method (any token is a valid
/// method, so the raw value would be unbounded).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_collapse_to_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "other");
    }

    #[test]
    fn a_request_without_matched_path_is_unmatched() {
        let request = Request::new(());
        assert_eq!(route_label(&request), UNMATCHED_ROUTE);
    }
}
