//! API-key authentication and per-key rate limiting, one middleware for the
//! routes that need them (`/events`, `/api/*`).

use std::sync::LazyLock;

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::Response,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock, clock::DefaultClock};
use telemetry::metrics::Counter;

use crate::{app::AppState, config::RateLimit, error::GatewayError};

/// Requests refused with 429.
pub static RATE_LIMITED: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "rate_limited_total",
        "Requests refused by the per-key rate limit",
    )
});

/// The accepted keys and one token bucket per key (the key set is fixed, so
/// the limiter's memory is bounded).
pub struct Auth {
    keys: Vec<String>,
    limiter: DefaultKeyedRateLimiter<usize>,
    clock: DefaultClock,
}

impl Auth {
    pub fn new(keys: Vec<String>, limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            keys,
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// The index of the key `presented` matches (compared in constant time,
    /// so response timing does not reveal a key's prefix).
    fn find(&self, presented: &str) -> Option<usize> {
        self.keys
            .iter()
            .position(|key| constant_time_eq(key.as_bytes(), presented.as_bytes()))
    }

    fn check(&self, key: usize) -> Result<(), GatewayError> {
        self.limiter.check_key(&key).map_err(|not_until| {
            RATE_LIMITED.inc();
            GatewayError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Requires `Authorization: Bearer <key>` with a known key within its rate.
pub async fn require_api_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, GatewayError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(GatewayError::Unauthorized)?;
    let key = state
        .auth
        .find(presented)
        .ok_or(GatewayError::Unauthorized)?;
    state.auth.check(key)?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn non_zero(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    #[test]
    fn keys_match_exactly() {
        let auth = Auth::new(
            vec!["alpha".into(), "beta".into()],
            RateLimit {
                per_second: non_zero(1),
                burst: non_zero(2),
            },
        );
        assert_eq!(auth.find("beta"), Some(1));
        assert_eq!(auth.find("bet"), None);
        assert_eq!(auth.find("betaa"), None);
        assert_eq!(auth.find(""), None);
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let auth = Auth::new(
            vec!["a".into(), "b".into()],
            RateLimit {
                per_second: non_zero(1),
                burst: non_zero(2),
            },
        );
        assert!(auth.check(0).is_ok());
        assert!(auth.check(0).is_ok());
        let Err(GatewayError::RateLimited { retry_after }) = auth.check(0) else {
            panic!("third request within the burst should be limited");
        };
        assert!(retry_after.as_secs_f64() <= 1.0);
        assert!(auth.check(1).is_ok(), "another key is not affected");
    }
}
