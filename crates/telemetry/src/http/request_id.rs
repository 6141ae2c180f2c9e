//! `x-request-id`: propagated when the caller sent a sane one, generated
//! otherwise; echoed on the response and available to handlers.

use std::{
    hash::{BuildHasher, Hasher},
    sync::atomic::{AtomicU64, Ordering},
};

use http::{HeaderMap, HeaderName};

/// The header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied id kept; longer ones are replaced (log lines and
/// headers must stay small).
const MAX_LEN: usize = 128;

/// The request's id, in the request's extensions for handlers and layers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(pub String);

impl RequestId {
    /// The caller's id when it is 1–128 visible ASCII characters, else a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(&REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= MAX_LEN)
            .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(Self::generate, |id| Self(id.to_owned()))
    }

    /// A new random 128-bit id in hex. The standard library's randomly keyed
    /// hasher provides the randomness (no id needs to be cryptographic); a
    /// counter keeps ids distinct even if two keys collided.
    pub fn generate() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let random = |salt: u64| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(count ^ salt);
            hasher.finish()
        };
        Self(format!("{:016x}{:016x}", random(0), random(u64::MAX)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_caller_id_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, "abc-123".parse().unwrap());
        assert_eq!(RequestId::from_headers(&headers).as_str(), "abc-123");
    }

    #[test]
    fn an_oversized_or_odd_caller_id_is_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, "x".repeat(500).parse().unwrap());
        assert_eq!(RequestId::from_headers(&headers).as_str().len(), 32);
        headers.insert(REQUEST_ID_HEADER, "a b".parse().unwrap());
        assert_ne!(RequestId::from_headers(&headers).as_str(), "a b");
    }

    #[test]
    fn generated_ids_differ() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| RequestId::generate()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
