//! The query string of an Engine.IO request (`EIO`, `transport`, `sid`, `b64`, with percent
//! escapes), as it arrives in the request line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_socketio::internals;

fuzz_target!(|data: &[u8]| {
    if let Ok(query) = std::str::from_utf8(data) {
        internals::engine_parse_query(query);
    }
});
