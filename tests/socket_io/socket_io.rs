//! Black-box Socket.IO v5 conformance tests against the `/socket.io/`
//! endpoint of the conformance server (pingInterval 300 ms, pingTimeout
//! 200 ms, maxHttpBufferSize 1 000 000, connectTimeout 1000 ms, CORS `*`).
//!
//! Namespace `/` emits `auth` (the handshake's auth) on connection, answers
//! `message` with `message-back` and the same arguments, and acks
//! `message-with-ack` with its arguments; namespace `/custom` only emits
//! `auth`; every other namespace is unknown.
//!
//! The expected answers are those of the Node `socket.io` 4.8 server; run
//! with `TSIO_TARGET=http://127.0.0.1:PORT` to check them against
//! `tests/js/reference-server.mjs`.

mod acks;
mod connect;
mod disconnect;
mod events;
mod malformed;
mod timeout;

use crate::support::Target;
use crate::support::eio::Packet;
use crate::support::sio::{SioClient, Transport};

/// A fresh client still connects to `/` and gets its echo (checked at the
/// end of every test).
pub async fn assert_still_serves(target: &Target) {
    let (mut c, sid) = SioClient::connected(target, Transport::Polling, "/", None).await;
    assert_eq!(sid.len(), 20);
    c.assert_echo_works("still serves").await;
}

/// The Engine.IO message carrying the Socket.IO packet `text`.
pub fn sio(text: &str) -> Packet {
    Packet::text(format!("4{text}"))
}

/// Logs which transport and case a looping test is on (shown when it
/// fails), with the UTC time of day to match a server log.
pub fn on(transport: Transport, what: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (s, ms) = (now.as_secs() % 86_400, now.subsec_millis());
    eprintln!(
        "--- {:02}:{:02}:{:02}.{ms:03} {transport:?}: {what}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}
