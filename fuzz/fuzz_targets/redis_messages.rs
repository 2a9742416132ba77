//! What other server nodes publish and store on Redis, read by the Redis adapter: Pub/Sub
//! messages (JSON or MessagePack), stream entries (`uid`, `nsp`, `type`, `data` with base64
//! MessagePack or JSON, `seq`) and persisted sessions (base64 MessagePack). Redis is shared
//! infrastructure, so a malformed or hostile value must be an error, never a panic, and never
//! an allocation sized by what it claims.
//!
//! Input format: the first byte chooses what is decoded (0 message, 1 stream entry, 2 session);
//! the rest is split on the byte 0xFF into the values (an entry's fields and values alternate).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let parts: Vec<&[u8]> = rest.split(|&b| b == 0xff).collect();
    let _ = tower_socketio::internals::redis_decode(kind, &parts);
});
