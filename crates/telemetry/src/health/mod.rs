//! Health checks behind `/ready` and `/health`.
//!
//! A service registers [`Check`]s (each with a [`Criticality`]); the
//! [`Health`] registry runs them concurrently, each under a timeout, and
//! caches the result briefly so a probe storm never becomes a dependency
//! storm (concurrent probes share one evaluation).
//!
//! - [`Criticality::Critical`]: the service cannot do its job without it
//!   (the backend's database, the gateway's backend, the bot's Discord
//!   connection). A failure makes `/ready` 503 and `/health` `down`.
//! - [`Criticality::Informational`]: worth knowing, not worth taking the pod
//!   out of rotation (e.g. the log shipper cannot reach Loki). A failure
//!   makes `/health` `degraded`; `/ready` stays 200.
//!
//! `/live` checks nothing: a dependency outage must never restart pods.

mod check;
mod http_check;
mod registry;
mod routes;

pub use check::{BoxFuture, Check, CheckOutcome, Criticality, FnCheck, check_fn};
pub use http_check::{HttpCheck, http_check};
pub use registry::{
    CheckReport, CheckStatus, DEFAULT_CACHE_TTL, DEFAULT_TIMEOUT, Health, HealthReport,
    HealthSettings, OverallStatus,
};
pub use routes::router;
