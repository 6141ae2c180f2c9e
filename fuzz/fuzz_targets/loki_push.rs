//! The test Loki receiver's push decoder (snappy block, then protobuf
//! `PushRequest`). Any body decodes or is refused with an error; never a
//! panic, and memory stays bounded by what the body can expand to. The
//! first byte's low bit sends the rest as it is or snappy-compressed first
//! (so the protobuf decoder and the label parser get inputs too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        snap::raw::Encoder::new().compress_vec(rest).unwrap()
    };
    if let Ok(entries) = testkit::loki::decode(&body) {
        let decoded = snap::raw::decompress_len(&body).unwrap();
        for entry in &entries {
            assert!(entry.line.len() <= decoded);
        }
    }
});
