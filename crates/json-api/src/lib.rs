//! The conventions every JSON API of the workspace shares (the backend's and
//! the gateway's), so a client sees one behaviour everywhere:
//!
//! - [`RequestError`]: the errors any JSON API has (a bad field, a body that
//!   is not JSON, unknown route, ...), rendered as
//!   `{"error": {"code", "message", "field"}}` by [`error_response`], which
//!   each service's own error type uses for its domain errors too;
//! - [`ApiJson`], [`read_body`], [`parse_json`]: JSON bodies whose errors
//!   name the field with its path (`events[3].guild_id`);
//! - [`with_seatbelts`]: JSON fallbacks, body limit, timeout and panic →
//!   500 JSON around a router, so axum's plain-text answers never leak.

mod body;
mod error;
mod seatbelts;

pub use body::{ApiJson, parse_json, read_body};
pub use error::{
    RequestError, ServerErrorCause, error_chain, error_response, log_server_errors,
    server_error_response,
};
pub use seatbelts::with_seatbelts;

/// The request header naming a request that may be sent more than once with
/// one effect (IETF `draft-ietf-httpapi-idempotency-key-header`): the
/// gateway's event batches to the backend carry one.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
