//! Black-box Engine.IO v4 conformance tests against the `/engine.io/`
//! endpoint of the conformance server (pingInterval 300 ms, pingTimeout
//! 200 ms, maxHttpBufferSize 1 000 000, CORS `*`, echo of every message).
//!
//! The expected answers are those of the Node `engine.io` 6.6 server; run
//! with `TSIO_TARGET=http://127.0.0.1:PORT` to check them against it.

mod errors;
mod handshake;
mod heartbeat;
mod lifecycle;
mod messaging;
mod upgrade;

use crate::support::Endpoint;

/// The server still accepts new sessions (checked at the end of every test).
pub async fn assert_still_serves(ep: &Endpoint) {
    let (sid, open) = ep.handshake_polling().await;
    assert!(!sid.is_empty());
    assert_eq!(open["pingInterval"], 300);
}
