//! Backend: the REST API over the community's database (guilds, members,
//! moderation actions, ingested Discord events and their statistics).
//!
//! A library with a thin binary, so tests build the router in-process
//! ([`app::router`]) or spawn the real binary.

pub mod app;
pub mod config;
pub mod error;
pub mod extract;
pub mod faults;
pub mod model;
pub mod pseudonym;
pub mod retention;
pub mod routes;
pub mod snowflake;
pub mod store;

pub use app::AppState;

/// This service's name and version, stamped on its logs, metrics and spans.
pub const SERVICE: telemetry::ServiceInfo = telemetry::ServiceInfo {
    name: "backend",
    version: env!("CARGO_PKG_VERSION"),
};
