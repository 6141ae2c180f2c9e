//! Snowflake ids as clients send them (path segments and JSON strings). The
//! backend accepts exactly the digit strings of 1..=2^63-1, the same in a
//! path and in JSON, prints them back in a form it accepts, and agrees with
//! the gateway, which validates the events' ids before the backend sees
//! them.
#![no_main]

use backend::snowflake::Snowflake;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let significant = raw.trim_start_matches('0');
    let in_range = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && !significant.is_empty()
        && significant
            .parse::<u64>()
            .is_ok_and(|value| value <= i64::MAX as u64);

    let parsed = raw.parse::<Snowflake>();
    assert_eq!(parsed.is_ok(), in_range, "{raw:?}");
    if let Ok(id) = parsed {
        assert!(id.get() > 0);
        assert_eq!(id.to_string().parse::<Snowflake>(), Ok(id));
        assert_eq!(id.to_string(), significant);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{significant}\"")
        );
    }

    let json = serde_json::to_string(raw).unwrap();
    let from_json = serde_json::from_str::<Snowflake>(&json).ok();
    assert_eq!(from_json, parsed.ok(), "{json}");
    let gateway = serde_json::from_str::<gateway::events::Snowflake>(&json);
    assert_eq!(gateway.is_ok(), in_range, "{json}");
});
