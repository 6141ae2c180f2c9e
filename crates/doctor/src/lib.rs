//! `make doctor`: the troubleshooting chapter of docs/monitoring.md as one
//! command. It reads the services' environment (`.env` included), checks
//! the services and each part of the observability stack concurrently, and
//! prints one line per check with the fix for each failure.

pub mod checks;
pub mod config;
pub mod exposition;
pub mod probe;
pub mod render;
pub mod report;
