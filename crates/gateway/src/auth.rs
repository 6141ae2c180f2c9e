//! API-key authentication, scopes and rate limits, one middleware for the
//! routes that need them (`/events` needs the `events` scope, `/api/*` the
//! `api` scope).
//!
//! Keys are compared as SHA-256 digests: every configured key is hashed
//! once at startup, the presented key once per request, and the digest is
//! compared with every configured digest in constant time without stopping
//! at a match, so the response time reveals neither a key's length, nor its
//! prefix, nor its position in the list.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, LazyLock},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::header,
    middleware::Next,
    response::Response,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock, clock::DefaultClock};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use telemetry::metrics::Counter;

use crate::{
    auth_failures::{AUTH_FAILURES_LIMITED, AuthFailures},
    config::{ApiKey, AuthFailureLimit, RateLimit},
    error::GatewayError,
    scope::{Scope, Scopes},
};

/// Requests refused with 429.
pub static RATE_LIMITED: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "rate_limited_total",
        "Requests refused by the per-key rate limit",
    )
});

/// Requests refused with 403: a known key outside its scopes.
pub static SCOPE_REFUSED: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "auth_scope_refused_total",
        "Requests refused with 403: the API key lacks the route's scope",
    )
});

type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// The accepted keys (as digests, with their scopes), one token bucket per
/// key (the key set is fixed, so that limiter's memory is bounded) and the
/// failed-authentication limit per client address.
pub struct Auth {
    keys: Vec<(KeyDigest, Scopes)>,
    limiter: DefaultKeyedRateLimiter<usize>,
    clock: DefaultClock,
    failures: AuthFailures,
}

impl Auth {
    pub fn new(keys: &[ApiKey], limit: RateLimit, failure_limit: AuthFailureLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            keys: keys
                .iter()
                .map(|key| (digest(&key.key), key.scopes))
                .collect(),
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            failures: AuthFailures::new(failure_limit),
        }
    }

    /// The index of the key `presented` matches. Every digest is compared,
    /// whatever matched before.
    fn find(&self, presented: &str) -> Option<usize> {
        let presented = digest(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (position, (key, _)) in self.keys.iter().enumerate() {
            let matches = key.ct_eq(&presented);
            index.conditional_assign(&u32::try_from(position).unwrap_or(u32::MAX), matches);
            found |= matches;
        }
        bool::from(found).then(|| usize::try_from(index).unwrap_or(usize::MAX))
    }

    fn scopes(&self, key: usize) -> Scopes {
        self.keys
            .get(key)
            .map_or_else(Scopes::default, |(_, scopes)| *scopes)
    }

    fn check_rate(&self, key: usize) -> Result<(), GatewayError> {
        self.limiter.check_key(&key).map_err(|not_until| {
            RATE_LIMITED.inc();
            GatewayError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
    }

    /// Who `authorization` is, and whether it may use `scope`: the whole
    /// decision, in order (address limit, key, scope, key's rate).
    fn authorize(
        &self,
        client: IpAddr,
        authorization: Option<&str>,
        scope: Scope,
    ) -> Result<(), GatewayError> {
        // Checked before the key: while limited, a right guess and a wrong
        // one get the same answer.
        if let Some(retry_after) = self.failures.limited(client) {
            AUTH_FAILURES_LIMITED.inc();
            return Err(GatewayError::AuthFailuresLimited { retry_after });
        }
        let Some(key) = bearer(authorization).and_then(|presented| self.find(presented)) else {
            self.failures.record(client);
            return Err(GatewayError::Unauthorized);
        };
        if !self.scopes(key).contains(scope) {
            SCOPE_REFUSED.inc();
            return Err(GatewayError::Forbidden { scope });
        }
        self.check_rate(key)
    }
}

fn bearer(authorization: Option<&str>) -> Option<&str> {
    authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// What [`require_scope`] checks: the shared [`Auth`] and the route's scope.
#[derive(Clone)]
pub struct ScopeGuard {
    pub auth: Arc<Auth>,
    pub scope: Scope,
}

/// Requires `Authorization: Bearer <key>` with a known key that has the
/// guard's scope, within its rate, from an address under its failure limit.
pub async fn require_scope(
    State(guard): State<ScopeGuard>,
    request: Request,
    next: Next,
) -> Result<Response, GatewayError> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    guard
        .auth
        .authorize(client_address(&request), authorization, guard.scope)?;
    Ok(next.run(request).await)
}

/// The TCP peer's address. Behind a reverse proxy that is the proxy's; a
/// server started without connection info shares one bucket.
fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn non_zero(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).unwrap()
    }

    fn auth(keys: &[ApiKey]) -> Auth {
        Auth::new(
            keys,
            RateLimit {
                per_second: non_zero(1),
                burst: non_zero(2),
            },
            AuthFailureLimit {
                per_minute: non_zero(1),
                burst: non_zero(3),
                max_addresses: 10,
            },
        )
    }

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn keys_match_exactly() {
        let auth = auth(&[
            ApiKey::new("alpha", Scopes::all()),
            ApiKey::new("beta", Scopes::all()),
        ]);
        assert_eq!(auth.find("alpha"), Some(0));
        assert_eq!(auth.find("beta"), Some(1));
        assert_eq!(auth.find("bet"), None);
        assert_eq!(auth.find("betaa"), None);
        assert_eq!(auth.find(""), None);
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let auth = auth(&[
            ApiKey::new("a", Scopes::all()),
            ApiKey::new("b", Scopes::all()),
        ]);
        assert!(auth.check_rate(0).is_ok());
        assert!(auth.check_rate(0).is_ok());
        let Err(GatewayError::RateLimited { retry_after }) = auth.check_rate(0) else {
            panic!("third request within the burst should be limited");
        };
        assert!(retry_after.as_secs_f64() <= 1.0);
        assert!(auth.check_rate(1).is_ok(), "another key is not affected");
    }

    #[test]
    fn a_key_outside_its_scope_is_forbidden_naming_the_scope() {
        let api_only = Scopes::default().with(Scope::Api);
        let auth = auth(&[ApiKey::new("client", api_only)]);
        assert!(
            auth.authorize(CLIENT, Some("Bearer client"), Scope::Api)
                .is_ok()
        );
        let refused = auth.authorize(CLIENT, Some("Bearer client"), Scope::Events);
        assert!(
            matches!(
                refused,
                Err(GatewayError::Forbidden {
                    scope: Scope::Events
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn once_limited_a_right_key_gets_the_same_answer_as_a_wrong_one() {
        let auth = auth(&[ApiKey::new("right", Scopes::all())]);
        for _ in 0..3 {
            let wrong = auth.authorize(CLIENT, Some("Bearer wrong"), Scope::Api);
            assert!(
                matches!(wrong, Err(GatewayError::Unauthorized)),
                "{wrong:?}"
            );
        }
        for presented in ["Bearer wrong", "Bearer right"] {
            let limited = auth.authorize(CLIENT, Some(presented), Scope::Api);
            assert!(
                matches!(limited, Err(GatewayError::AuthFailuresLimited { .. })),
                "{presented}: {limited:?}"
            );
        }
        let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(
            auth.authorize(elsewhere, Some("Bearer right"), Scope::Api)
                .is_ok()
        );
    }
}
