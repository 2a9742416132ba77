//! Black-box Engine.IO v4 conformance tests against the `/engine.io/`
//! endpoint of the conformance server (pingInterval 300 ms, pingTimeout
//! 200 ms, maxHttpBufferSize 1 000 000, CORS `*`, echo of every message).
//!
//! The expected answers are those of the Node `engine.io` 6.6 server; run
//! with `TSIO_TARGET=http://127.0.0.1:PORT` to check them against it.

mod common;

#[path = "engine_io/errors.rs"]
mod errors;
#[path = "engine_io/handshake.rs"]
mod handshake;
#[path = "engine_io/heartbeat.rs"]
mod heartbeat;
#[path = "engine_io/lifecycle.rs"]
mod lifecycle;
#[path = "engine_io/messaging.rs"]
mod messaging;
#[path = "engine_io/upgrade.rs"]
mod upgrade;

use common::Endpoint;

/// The server still accepts new sessions (checked at the end of every test).
pub async fn assert_still_serves(ep: &Endpoint) {
    let (sid, open) = ep.handshake_polling().await;
    assert!(!sid.is_empty());
    assert_eq!(open["pingInterval"], 300);
}
