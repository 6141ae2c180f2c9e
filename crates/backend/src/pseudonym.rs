//! Pseudonyms of erased users: the id their moderation entries carry after
//! an erasure, and the only form of their id the erasure logs.
//!
//! A salted SHA-256 of the user id (the salt is `LOG_HASH_SALT`, required in
//! production), mapped into `[2^62, 2^63)`. The same user always gets the
//! same pseudonym for one salt, so an erased user's entries still group
//! together (per-target counts stay right); without the salt it cannot be
//! reversed by hashing candidate ids. Real Discord ids stay below 2^62 until
//! 2049 (their top bits are milliseconds since 2015), so a pseudonym never
//! collides with a real user.

use sha2::{Digest, Sha256};

use crate::snowflake::Snowflake;

/// The smallest pseudonym: every id at or above it is an erased user's.
pub const PSEUDONYM_FLOOR: i64 = 1 << 62;

/// Used when no salt is configured (development, tests): stable but public.
const DEFAULT_SALT: &str = "backend-default-pseudonym-salt";

/// Derives pseudonyms with one salt (cheap to clone).
#[derive(Clone)]
pub struct Pseudonyms {
    salt: std::sync::Arc<str>,
}

impl Pseudonyms {
    /// `salt` is `LOG_HASH_SALT`; `None` falls back to the public default.
    pub fn new(salt: Option<&str>) -> Self {
        Self {
            salt: salt.unwrap_or(DEFAULT_SALT).into(),
        }
    }

    pub fn of(&self, user: Snowflake) -> Snowflake {
        let mut hasher = Sha256::new();
        hasher.update(self.salt.as_bytes());
        hasher.update([0]);
        hasher.update(user.get().to_be_bytes());
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let bits = i64::from_be_bytes(first) & (PSEUDONYM_FLOOR - 1);
        Snowflake::from_db(PSEUDONYM_FLOOR | bits)
    }
}

impl Default for Pseudonyms {
    fn default() -> Self {
        Self::new(None)
    }
}

// No Debug derive: the salt is a secret.
impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms { salt: <redacted> }")
    }
}

/// Whether `id` is a pseudonym (an erased user) rather than a real id.
pub fn is_pseudonym(id: Snowflake) -> bool {
    id.get() >= PSEUDONYM_FLOOR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: i64) -> Snowflake {
        Snowflake::from_db(raw)
    }

    #[test]
    fn pseudonyms_are_stable_per_salt_and_differ_across_salts() {
        let a = Pseudonyms::new(Some("salt-a"));
        let user = id(175_928_847_299_117_063);
        assert_eq!(a.of(user), a.of(user));
        assert_ne!(a.of(user), Pseudonyms::new(Some("salt-b")).of(user));
        assert_ne!(a.of(user), a.of(id(175_928_847_299_117_064)));
    }

    #[test]
    fn pseudonyms_stay_in_the_reserved_range_above_every_real_id() {
        let pseudonyms = Pseudonyms::default();
        for raw in [
            1,
            42,
            175_928_847_299_117_063,
            PSEUDONYM_FLOOR - 1,
            i64::MAX,
        ] {
            let pseudonym = pseudonyms.of(id(raw));
            assert!(is_pseudonym(pseudonym), "{raw} -> {pseudonym}");
            assert!(pseudonym.get() > 0);
        }
        // A Discord id of today is far below the floor.
        assert!(!is_pseudonym(id(1_300_000_000_000_000_000)));
    }

    #[test]
    fn debug_never_shows_the_salt() {
        let debug = format!("{:?}", Pseudonyms::new(Some("very-secret-salt")));
        assert!(!debug.contains("very-secret-salt"), "{debug}");
    }
}
