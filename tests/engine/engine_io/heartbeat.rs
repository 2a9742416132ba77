//! Server-initiated heartbeat (v4): ping every pingInterval, pong expected
//! within pingTimeout.
//!
//! Timing bounds are generous (loaded 2-core CI machine): pingInterval is
//! 300 ms and pingTimeout 200 ms; only "not immediately" and "within a few
//! seconds" are asserted.

use std::time::{Duration, Instant};

use super::assert_still_serves;
use crate::support::eio::{assert_error, decode_payload};
use crate::support::{self, Packet, WsEvent};

/// A ping must not come before this much of pingInterval has passed.
const NOT_BEFORE: Duration = Duration::from_millis(200);
/// Upper bound for anything that should happen after ~pingInterval(+pingTimeout).
const GENEROUS: Duration = Duration::from_secs(4);

#[tokio::test]
async fn polling_ping_comes_after_ping_interval() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let started = Instant::now();
    let packets = tokio::time::timeout(GENEROUS, ep.poll_packets(&sid))
        .await
        .expect("ping in time");
    let elapsed = started.elapsed();
    assert_eq!(packets, vec![Packet::text("2")]);
    assert!(
        elapsed >= NOT_BEFORE,
        "ping after {elapsed:?}, before pingInterval"
    );
    ep.send_packets(&sid, &[Packet::text("3")]).await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_client_answering_pongs_stays_open() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let started = Instant::now();
    let mut pings = 0;
    while pings < 5 {
        let packets = tokio::time::timeout(GENEROUS, ep.poll_packets(&sid))
            .await
            .expect("poll in time");
        for p in packets {
            assert_eq!(p, Packet::text("2"), "only pings are expected");
            pings += 1;
            ep.send_packets(&sid, &[Packet::text("3")]).await;
        }
    }
    // five intervals went by: well over pingInterval + pingTimeout
    assert!(started.elapsed() >= Duration::from_millis(1000));
    ep.send_packets(&sid, &[Packet::text("4alive")]).await;
    assert_eq!(
        ep.poll_until_data(&sid, GENEROUS).await,
        vec![Packet::text("4alive")]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_client_without_pong_is_closed() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let started = Instant::now();
    let packets = tokio::time::timeout(GENEROUS, ep.poll_packets(&sid))
        .await
        .expect("ping in time");
    assert_eq!(packets, vec![Packet::text("2")]);
    // No pong. The next poll is either pending when the session times out
    // (Node then flushes a close packet `1` to it) or comes after (error).
    let res = tokio::time::timeout(GENEROUS, ep.poll(&sid))
        .await
        .expect("poll answered");
    if res.status == 200 {
        assert_eq!(decode_payload(&res.text()), vec![Packet::text("1")]);
    } else {
        assert_error(&res, 400, 1, "Session ID unknown");
    }
    assert!(started.elapsed() < GENEROUS);
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn websocket_ping_comes_after_ping_interval_and_pongs_keep_it_open() {
    let ep = support::start().await.engine();
    let (mut ws, _sid, _) = ep.handshake_ws().await;
    let mut last = Instant::now();
    for _ in 0..5 {
        let event = ws.recv_within(GENEROUS).await.expect("ping in time");
        let gap = last.elapsed();
        assert_eq!(event, WsEvent::Text("2".into()));
        assert!(gap >= NOT_BEFORE, "ping {gap:?} after the previous one");
        ws.send_text("3").await;
        last = Instant::now();
    }
    ws.send_text("4alive").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4alive".into()));
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn websocket_client_without_pong_is_closed() {
    let ep = support::start().await.engine();
    let (mut ws, sid, _) = ep.handshake_ws().await;
    let started = Instant::now();
    assert_eq!(
        ws.recv_within(GENEROUS).await,
        Some(WsEvent::Text("2".into()))
    );
    ws.expect_closed_within(GENEROUS).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= NOT_BEFORE, "closed after only {elapsed:?}");
    assert!(!ep.session_exists(&sid, "websocket").await);
    assert_still_serves(&ep).await;
}
