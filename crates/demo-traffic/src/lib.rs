//! Demo traffic: a realistic request mix sent through the gateway to the
//! backend for a given duration and rate, so every dashboard has data
//! without Discord. Run with `make demo-traffic` (see `--help`).

pub mod args;
pub mod plan;
pub mod report;
pub mod run;

pub use args::{Args, ArgsError};
pub use report::Summary;
