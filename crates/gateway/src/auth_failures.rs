//! The failed-authentication limit per client address: a client that sends
//! wrong keys too often is refused (429) until its bucket refills, whatever
//! key it sends meanwhile, so guessing keys gets no faster than the limit.
//!
//! One GCRA bucket per address, stored as its "theoretical arrival time"
//! (one `Instant`). The table holds at most `max_addresses` entries: a full
//! table first forgets the addresses whose bucket has refilled (they are
//! indistinguishable from new ones); failures it still cannot record are
//! counted (`auth_failures_untracked_total`) rather than grow memory.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{LazyLock, Mutex, PoisonError},
    time::{Duration, Instant},
};

use telemetry::metrics::Counter;

use crate::config::AuthFailureLimit;

/// Failed authentications (unknown or missing key).
pub static AUTH_FAILURES: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "auth_failures_total",
        "Requests refused with 401: missing or unknown API key",
    )
});

/// Requests refused because their address failed authentication too often.
pub static AUTH_FAILURES_LIMITED: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "auth_failure_limited_total",
        "Requests refused with 429: their client address failed authentication too often",
    )
});

/// Failures not recorded because the address table was full.
pub static AUTH_FAILURES_UNTRACKED: LazyLock<Counter> = LazyLock::new(|| {
    telemetry::metrics::counter(
        "auth_failures_untracked_total",
        "Failed authentications not recorded: the per-address table was full",
    )
});

pub struct AuthFailures {
    /// Time one failure costs (a minute over `per_minute`).
    interval: Duration,
    /// How far ahead of now the bucket may run before it refuses:
    /// `interval * (burst - 1)`.
    tolerance: Duration,
    max_addresses: usize,
    buckets: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthFailures {
    pub fn new(limit: AuthFailureLimit) -> Self {
        let interval = Duration::from_secs(60) / limit.per_minute.get();
        Self {
            interval,
            tolerance: interval * (limit.burst.get() - 1),
            max_addresses: limit.max_addresses,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long `address` must wait before it may authenticate again, if
    /// it is over its limit.
    pub fn limited(&self, address: IpAddr) -> Option<Duration> {
        self.limited_at(client_key(address), Instant::now())
    }

    /// Records one failed authentication from `address`.
    pub fn record(&self, address: IpAddr) {
        AUTH_FAILURES.inc();
        self.record_at(client_key(address), Instant::now());
    }

    fn limited_at(&self, key: IpAddr, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let ahead = buckets.get(&key)?.checked_duration_since(now)?;
        ahead
            .checked_sub(self.tolerance)
            .filter(|wait| !wait.is_zero())
    }

    fn record_at(&self, key: IpAddr, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.max_addresses {
            buckets.retain(|_, arrival| *arrival > now);
            if buckets.len() >= self.max_addresses {
                AUTH_FAILURES_UNTRACKED.inc();
                return;
            }
        }
        let arrival = buckets.entry(key).or_insert(now);
        *arrival = (*arrival).max(now) + self.interval;
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The bucket an address falls in: IPv4 addresses one by one, IPv6 by /64
/// (one host usually holds a whole /64, so per-address buckets would not
/// limit it).
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn limit(per_minute: u32, burst: u32, max_addresses: usize) -> AuthFailures {
        AuthFailures::new(AuthFailureLimit {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            max_addresses,
        })
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_is_limited_after_its_burst_and_recovers_at_the_rate() {
        let failures = limit(60, 3, 100); // one per second, burst 3
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(failures.limited_at(v4(1), start), None);
            failures.record_at(v4(1), start);
        }
        let wait = failures
            .limited_at(v4(1), start)
            .expect("limited after 3 failures");
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(failures.limited_at(v4(2), start), None, "per address");
        let later = start + Duration::from_secs(1);
        assert_eq!(failures.limited_at(v4(1), later), None, "one refilled");
        failures.record_at(v4(1), later);
        assert!(failures.limited_at(v4(1), later).is_some());
    }

    #[test]
    fn the_table_is_bounded_and_forgets_recovered_addresses_first() {
        let failures = limit(60, 2, 3);
        let start = Instant::now();
        for last in 0..3 {
            failures.record_at(v4(last), start);
        }
        // Full of active buckets: a fourth address is not tracked.
        failures.record_at(v4(9), start);
        assert_eq!(failures.tracked(), 3);
        assert_eq!(failures.limited_at(v4(9), start), None);
        // Once the others have refilled, they make room.
        let later = start + Duration::from_secs(5);
        failures.record_at(v4(9), later);
        assert_eq!(failures.tracked(), 1);
        for _ in 0..100_000u32 {
            failures.record_at(v4(1), later);
        }
        assert!(failures.tracked() <= 3);
    }

    #[test]
    fn ipv6_addresses_share_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), v4(1));
    }
}
