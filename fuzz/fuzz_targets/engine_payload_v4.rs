//! An Engine.IO v4 polling payload: packets separated by `\x1e`, any bytes (the body of a
//! POST is not known to be UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_socketio::internals;

fuzz_target!(|data: &[u8]| {
    let decoded =
        internals::engine_decode_payload(bytes::Bytes::copy_from_slice(data), false, false);
    // never more packets than segments
    let segments = data.iter().filter(|&&b| b == 0x1e).count() + 1;
    assert!(
        decoded <= segments,
        "{decoded} packets from {segments} segments"
    );
});
