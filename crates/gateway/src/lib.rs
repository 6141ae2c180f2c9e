//! Gateway: the edge between clients, the bot and the backend. Events from
//! the bot are validated and batched to the backend; `/api/*` is proxied
//! with API-key authentication, per-key rate limiting, upstream timeouts and
//! retries of idempotent requests.

pub mod app;
pub mod auth;
pub mod auth_failures;
pub mod batcher;
pub mod clients;
pub mod config;
pub mod error;
pub mod events;
pub mod routes;
pub mod scope;

pub use app::AppState;

/// This service's name and version, stamped on its logs, metrics and spans.
pub const SERVICE: telemetry::ServiceInfo = telemetry::ServiceInfo {
    name: "gateway",
    version: env!("CARGO_PKG_VERSION"),
};
