//! `x-request-id` as a caller sends it. Whatever arrives, the request's id
//! is 1–128 visible ASCII characters (it goes into log lines and back on the
//! response as a header), and a caller's sane id is kept.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use telemetry::http::{REQUEST_ID_HEADER, RequestId};

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let sent = HeaderValue::from_bytes(data).ok();
    if let Some(value) = &sent {
        headers.insert(REQUEST_ID_HEADER, value.clone());
    }
    let id = RequestId::from_headers(&headers);
    let id = id.as_str();
    assert!((1..=128).contains(&id.len()), "{id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id:?}");
    assert!(HeaderValue::from_str(id).is_ok(), "{id:?}");
    if let Some(text) = sent.as_ref().and_then(|value| value.to_str().ok()) {
        let text = text.trim();
        let sane =
            !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic());
        if sane {
            assert_eq!(id, text);
        }
    }
});
