//! What must never be printed, decided in one place for every output
//! (console, Loki, exported spans, `/health`, configuration errors,
//! `Debug`): which field names hold secrets or personal data
//! ([`classify`]), credentials inside URLs ([`sanitize_url`]), and a
//! wrapper whose `Debug` and `Display` print `[redacted]` ([`Secret`]).
//!
//! A leaf like `config::env`: it depends on nothing else in the crate, so
//! the configuration readers and the logging pipeline share its rules.

mod names;
mod secret;
mod url;

pub use names::{Treatment, classify, is_secret_variable};
pub use secret::{Secret, SecretUrl};
pub use url::{sanitize_url, sanitize_urls_in};

/// What a sensitive value is replaced with in logs and spans.
pub const REDACTED: &str = "***REDACTED***";
