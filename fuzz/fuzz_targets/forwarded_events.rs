//! `POST /events` at the gateway: a batch the gateway accepts (and answers
//! 202 for) is forwarded as the gateway serializes it, and the backend must
//! accept that body, event for event; otherwise acknowledged events would
//! be refused downstream.
#![no_main]

use json_api::parse_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = parse_json::<gateway::events::EventBatch>(data) else {
        return;
    };
    if batch.validate().is_err() {
        return;
    }
    let forwarded = serde_json::to_vec(&batch).unwrap();
    let received = match parse_json::<backend::model::EventBatch>(&forwarded) {
        Ok(received) => received,
        Err(error) => panic!(
            "the backend refuses what the gateway accepted: {error:?}\n{}",
            String::from_utf8_lossy(&forwarded)
        ),
    };
    assert!(received.validate().is_ok());
    assert_eq!(received.events.len(), batch.events.len());
    for (sent, got) in batch.events.iter().zip(&received.events) {
        assert_eq!(sent.kind.as_str(), got.kind.as_str());
    }
});
