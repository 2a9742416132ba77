//! An Engine.IO v3 polling payload: the length-prefixed text framing (`<len>:<packet>`,
//! lengths in UTF-16 units) or, when the first input byte is odd, the binary framing of an
//! `application/octet-stream` POST (`<0|1><digits>0xFF<packet>`). The rest of the input is
//! the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_socketio::internals;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let binary = mode & 1 == 1;
    internals::engine_decode_payload(bytes::Bytes::copy_from_slice(body), true, binary);
});
