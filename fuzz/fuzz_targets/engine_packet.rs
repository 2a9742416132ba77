//! One Engine.IO text packet (`<type><data>`, `b<base64>`), as a WebSocket text frame or one
//! segment of a polling payload carries it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_socketio::internals;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let decoded = internals::engine_decode_packet(text);
        // A packet is one segment of a payload: both decoders must agree on it.
        if !text.contains('\u{1e}') {
            let as_payload =
                internals::engine_decode_payload(bytes::Bytes::copy_from_slice(data), false, false);
            assert_eq!(decoded, as_payload == 1, "{text:?}");
        }
    }
});
