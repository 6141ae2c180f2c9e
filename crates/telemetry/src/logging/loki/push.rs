//! One push to Loki and its retry policy: the request (protobuf body,
//! tenant, auth), how its outcome is classified (retry later or never),
//! `Retry-After`, and the backoff between attempts. The batching, the
//! deadline and the accounting are the shipper's.

use std::{
    hash::{BuildHasher, Hasher},
    time::{Duration, Instant},
};

use super::config::LokiAuth;
use crate::logging::metrics;

/// The longest pause between two attempts, and the longest `Retry-After`
/// honoured.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How much of Loki's answer a warning quotes.
const QUOTE_LIMIT: usize = 512;

/// Everything a push needs, owned so a request future can outlive a borrow.
#[derive(Clone)]
pub(super) struct Pusher {
    pub(super) client: reqwest::Client,
    pub(super) url: String,
    pub(super) tenant: Option<String>,
    pub(super) auth: Option<LokiAuth>,
}

pub(super) enum PushError {
    /// Worth retrying: network, timeout, 429, 5xx.
    Retry {
        cause: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// Loki will never take this batch.
    Rejected { status: u16, body: String },
}

impl Pusher {
    pub(super) async fn push(self, body: Vec<u8>) -> Result<(), PushError> {
        let request = super::config::authorize(
            self.client
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body),
            self.tenant.as_deref(),
            self.auth.as_ref(),
        );
        let started = Instant::now();
        let outcome = request.send().await;
        metrics::PUSH_DURATION.observe(started.elapsed().as_secs_f64());
        let response = outcome.map_err(|error| PushError::Retry {
            cause: if error.is_timeout() {
                "timeout"
            } else {
                "network"
            },
            detail: error_chain(&error),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        let body = quote(&body);
        let code = status.as_u16();
        Err(match code {
            429 => PushError::Retry {
                cause: "rate_limited",
                detail: format!("{status}: {body}"),
                retry_after,
            },
            408 | 500..=599 => PushError::Retry {
                cause: if code == 408 {
                    "timeout"
                } else {
                    "server_error"
                },
                detail: format!("{status}: {body}"),
                retry_after,
            },
            _ => PushError::Rejected { status: code, body },
        })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{:?}…", &body[..cut]),
        None => format!("{body:?}"),
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (date.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter: a random pause in [d/2, d], d doubling
/// from 250 ms up to 30 s.
pub(super) struct Backoff {
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub(super) fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            attempt: 0,
            rng: seed | 1,
        }
    }

    pub(super) fn next(&mut self) -> Duration {
        let ceiling = FIRST_BACKOFF
            .saturating_mul(1 << self.attempt.min(16))
            .min(MAX_BACKOFF);
        self.attempt += 1;
        // xorshift64: plenty for jitter, no dependency.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let fraction = (self.rng % 1000) as f64 / 1000.0;
        ceiling.mul_f64(0.5 + fraction / 2.0)
    }

    pub(super) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let pauses: Vec<Duration> = (0..12).map(|_| backoff.next()).collect();
        assert!(pauses[0] >= Duration::from_millis(125) && pauses[0] <= FIRST_BACKOFF);
        assert!(pauses.iter().all(|p| *p <= MAX_BACKOFF));
        assert!(pauses[11] >= MAX_BACKOFF / 2);
        backoff.reset();
        assert!(backoff.next() <= FIRST_BACKOFF);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn long_answers_are_quoted_shortly() {
        assert_eq!(quote(" bad line "), "\"bad line\"");
        assert!(quote(&"x".repeat(2000)).chars().count() < QUOTE_LIMIT + 4);
    }
}
