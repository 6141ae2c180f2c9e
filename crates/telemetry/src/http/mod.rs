//! The HTTP observability layer every service wraps its router in: RED
//! metrics, `x-request-id`, and one log line per request.
//!
//! A proper tower [`Layer`](tower::Layer) rather than `middleware::from_fn`:
//! it is generic over the body, composes in a `ServiceBuilder` with other
//! layers (the trace layer is independent of it), and holds its in-flight
//! guard across cancellation (a dropped request still decrements the gauge).
//!
//! Apply it with `Router::layer` (after every route is added, the ops router
//! included) so that axum's [`MatchedPath`](axum::extract::MatchedPath) is
//! visible to it: `Router::layer` wraps each route, after routing.

mod labels;
mod layer;
mod metrics;
mod request_id;

pub use labels::{UNMATCHED_ROUTE, method_label, route_label};
pub use layer::{HttpObservability, HttpObservabilityLayer, layer};
pub use request_id::{REQUEST_ID_HEADER, RequestId};

pub(crate) use metrics::{ClientLabels, in_flight, observe_client_call};
