//! Hostile input, class by class, over real TCP: what the server answers (HTTP status and
//! error JSON, WebSocket close code, disconnect) to header floods, slow and partial requests,
//! malformed polling framing and base64, WebSocket frames that break RFC 6455, wrong upgrade
//! probes, packet and namespace floods, absurd ack ids and deeply nested JSON, and that a fresh
//! client is served afterwards.
//!
//! Most tests run against the in-process conformance server (`examples/conformance.rs`); with
//! `TSIO_TARGET=http://127.0.0.1:PORT` those run against another server (Node's
//! `tests/js/reference-server.mjs`), and the tests that need a server of their own or assert a
//! deliberate difference from Node are skipped. Memory is read from `/proc/self/status`.

mod engine_ws;
mod floods;
mod http;
mod polling;
mod socketio;

use std::time::Duration;

use crate::support;
use crate::support::{Endpoint, Target};

/// Whether the suite runs against an external server (`TSIO_TARGET`).
pub fn external() -> bool {
    std::env::var_os("TSIO_TARGET").is_some()
}

/// Skips a test that needs the in-process server; returns true when skipped.
pub fn skip_external(why: &str) -> bool {
    if external() {
        eprintln!("skipped against TSIO_TARGET: {why}");
        return true;
    }
    false
}

/// A fresh Engine.IO session still opens and echoes on `/engine.io/`.
pub async fn assert_engine_serves(target: &Target) {
    let ep = target.engine();
    let (sid, _) = ep.handshake_polling().await;
    ep.send_packets(&sid, &[support::Packet::text("4fresh")])
        .await;
    assert_eq!(
        ep.poll_until_data(&sid, Duration::from_secs(5)).await,
        vec![support::Packet::text("4fresh")]
    );
}

/// A fresh Socket.IO client still connects to `/` and gets its echo.
pub async fn assert_sio_serves(target: &Target) {
    use crate::support::sio::{SioClient, Transport};
    let (mut c, _) = SioClient::connected(target, Transport::WebSocket, "/", None).await;
    c.assert_echo_works("fresh").await;
}

/// The server has already forgotten `sid` (checked once, right away: the conformance
/// server's heartbeat would end an idle session within 500 ms anyway, so only an immediate
/// check shows that the packet itself closed it).
pub async fn assert_closed_now(ep: &Endpoint, sid: &str, transport: &str) {
    assert!(
        !ep.session_exists(sid, transport).await,
        "session {sid} still open"
    );
}

/// Waits until the server forgets `sid` (its current transport is `transport`).
pub async fn assert_session_gone(ep: &Endpoint, sid: &str, transport: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ep.session_exists(sid, transport).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session {sid} still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Engine.IO message carrying the Socket.IO packet `text`.
pub fn sio(text: &str) -> support::Packet {
    support::Packet::text(format!("4{text}"))
}
