//! Outbound HTTP clients.

pub mod backend;
