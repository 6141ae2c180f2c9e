//! Discord snowflakes: u64 ids carried as strings in JSON (JavaScript
//! clients lose precision past 2^53) and stored as BIGINT (every real
//! snowflake is below 2^63), plus the generator of the API's own ids.

use std::{
    fmt,
    hash::{BuildHasher, RandomState},
    str::FromStr,
    sync::{Mutex, PoisonError},
};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A positive id that fits a signed 64-bit column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Snowflake(i64);

impl Snowflake {
    pub const EXPECTED: &'static str = "a snowflake id: a string of digits between 1 and 2^63-1";

    pub fn get(self) -> i64 {
        self.0
    }

    /// From a database value (already validated on the way in).
    pub fn from_db(value: i64) -> Self {
        Self(value)
    }
}

impl FromStr for Snowflake {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::EXPECTED);
        }
        match raw.parse::<i64>() {
            Ok(value) if value > 0 => Ok(Self(value)),
            _ => Err(Self::EXPECTED),
        }
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Snowflake;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Snowflake::EXPECTED)
            }
            fn visit_str<E: de::Error>(self, raw: &str) -> Result<Snowflake, E> {
                raw.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Discord's layout for our own ids: milliseconds since [`EPOCH_MS`] in the
/// high bits, then a per-process worker number (random, so replicas rarely
/// collide; the primary key catches the rest), then a sequence. Ids sort by
/// creation time, which the "newest first" cursors rely on.
pub struct IdGenerator {
    worker: i64,
    state: Mutex<(i64, i64)>,
}

/// 2015-01-01T00:00:00Z, Discord's epoch.
pub const EPOCH_MS: i64 = 1_420_070_400_000;
const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;

impl IdGenerator {
    pub fn new() -> Self {
        let worker =
            (RandomState::new().hash_one(std::process::id()) & ((1 << WORKER_BITS) - 1)) as i64;
        Self {
            worker,
            state: Mutex::new((0, 0)),
        }
    }

    pub fn next(&self, now_ms: i64) -> Snowflake {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, sequence) = *state;
        let next = if now_ms > last {
            (now_ms, 0)
        } else if sequence + 1 < (1 << SEQUENCE_BITS) {
            (last, sequence + 1)
        } else {
            // Sequence exhausted within one millisecond: borrow the next one.
            (last + 1, 0)
        };
        *state = next;
        let (ms, sequence) = next;
        let id = ((ms - EPOCH_MS).max(1) << (WORKER_BITS + SEQUENCE_BITS))
            | (self.worker << SEQUENCE_BITS)
            | sequence;
        Snowflake(id)
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_i64_strings_only() {
        assert_eq!(
            "175928847299117063".parse(),
            Ok(Snowflake(175928847299117063))
        );
        for bad in [
            "",
            "0",
            "-1",
            "abc",
            "1.5",
            " 1",
            "9223372036854775808",
            "18446744073709551615",
        ] {
            assert!(bad.parse::<Snowflake>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn json_is_a_string_both_ways() {
        let id: Snowflake = serde_json::from_str(r#""42""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""42""#);
        assert!(serde_json::from_str::<Snowflake>("42").is_err());
    }

    #[test]
    fn generated_ids_increase_even_within_one_millisecond() {
        let ids = IdGenerator::new();
        let now = 1_700_000_000_000;
        let mut previous = ids.next(now);
        for _ in 0..10_000 {
            let id = ids.next(now);
            assert!(id > previous);
            previous = id;
        }
        assert!(ids.next(now + 60_000) > previous);
    }
}
