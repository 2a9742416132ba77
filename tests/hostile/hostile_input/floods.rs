//! Floods: megabytes of tiny packets in one POST or over a WebSocket, to a reader that reads
//! and to one that does not. The memory a session can hold is bounded by `max_buffered_bytes`
//! (4 MiB of queued packets by default): past it the session is closed as a slow consumer.

use std::time::Duration;

use serde_json::json;
use tower_socketio::engine::{EngineConfig, EngineIoLayer};

use super::{assert_engine_serves, assert_session_gone, skip_external};
use crate::support::eio::{Packet, SEPARATOR};
use crate::support::rawws::RawWs;
use crate::support::sio::{Next, SioClient, Transport};
use crate::support::stress;
use crate::support::{self, Endpoint};

const MIB: u64 = 1024;

/// `count` copies of `packet` joined by the record separator.
fn tiny_payload(packet: &str, max_len: usize) -> String {
    let mut out = String::with_capacity(max_len);
    while out.len() + packet.len() < max_len {
        if !out.is_empty() {
            out.push(SEPARATOR);
        }
        out.push_str(packet);
    }
    out
}

/// An echo Engine.IO server with the default heartbeat (25 s) and queue bound (4 MiB).
async fn echo_server() -> Endpoint {
    let config = EngineConfig::default().path("/engine.io/");
    let app = axum::Router::new().layer(EngineIoLayer::new(stress::Echo, config));
    stress::serve(app).await.target.engine()
}

/// One megabyte of 2-byte messages (333 333 packets) in one POST, to a reader that polls:
/// every echo arrives, in order.
#[tokio::test]
async fn megabyte_of_tiny_packets_is_echoed_in_full() {
    if skip_external("Node misses its 200 ms ping timeout while it works through the flood") {
        return;
    }
    let _heavy = stress::HEAVY.lock().await;
    let target = support::start().await;
    let ep = target.engine();
    let (sid, _) = ep.handshake_polling().await;
    let body = tiny_payload("4x", 1_000_000);
    let count = body.split(SEPARATOR).count();
    let res = ep.send(&sid, &body).await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{got} of {count} echoes"
        );
        for p in ep.poll_packets(&sid).await {
            match p {
                Packet::Text(t) if t == "4x" => got += 1,
                Packet::Text(t) if t == "2" => {
                    ep.send(&sid, "3").await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(got, count);
    assert_engine_serves(&target).await;
}

/// The same floods to a client that never polls: the echoes queue up until the queue bound
/// (4 MiB of packets) is reached, then the session is closed ("slow consumer") and its queue
/// freed. Memory grows by a bounded amount, however many POSTs the client sends.
#[tokio::test]
async fn tiny_packet_floods_to_a_client_that_never_polls_are_bounded() {
    if skip_external("measures this process's memory") {
        return;
    }
    let _heavy = stress::HEAVY.lock().await;
    let ep = echo_server().await;
    let (sid, _) = ep.handshake_polling().await;
    let body = tiny_payload("4x", 1_000_000);
    let base = stress::settled_rss_kib();
    let mut peak = base;
    let mut posts = 0;
    while ep.session_exists(&sid, "polling").await {
        assert!(posts < 20, "still open after {posts} POSTs of 1 MB");
        let res = ep.send(&sid, &body).await;
        posts += 1;
        peak = peak.max(stress::vm_rss_kib());
        if res.status != 200 {
            break;
        }
    }
    let after = stress::settled_rss_kib();
    eprintln!(
        "tiny-packet flood: closed after {posts} POSTs of 1 MB; RSS base {} MiB, peak +{} KiB, after close +{} KiB",
        base / MIB,
        peak - base,
        after.saturating_sub(base)
    );
    // Each queued packet is counted with its overhead, so a flood of 2-byte packets stops at
    // the 32 MiB bound like any other: the peak stays within it. What the allocator keeps
    // after the close is bounded by the same figure (the soak test checks for leaks).
    assert!(
        peak - base < 40 * MIB,
        "a session that never polls held {} MiB for a 32 MiB queue bound",
        (peak - base) / MIB
    );
    assert!(
        after.saturating_sub(base) < 32 * MIB,
        "{} MiB still held after the session closed",
        after.saturating_sub(base) / MIB
    );
    assert_session_gone(&ep, &sid, "polling").await;
    assert_engine_serves(&ep.target).await;
}

/// 200 000 tiny WebSocket messages from a client that never reads: the server reads them all
/// (it never stops reading its peer), its replies back up behind TCP until the queue bound,
/// then the session is closed as a slow consumer.
#[tokio::test]
async fn tiny_message_flood_over_websocket_to_a_client_that_never_reads_is_bounded() {
    if skip_external("measures this process's memory") {
        return;
    }
    let _heavy = stress::HEAVY.lock().await;
    let ep = echo_server().await;
    let mut ws = RawWs::connect(&ep.target.addr, &ep.url("EIO=4&transport=websocket")).await;
    let open = ws.next_text(Duration::from_secs(5)).await.expect("open");
    let sid = crate::support::eio::parse_open(&open)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let base = stress::settled_rss_kib();
    let msg =
        crate::support::rawws::encode(true, 0, crate::support::rawws::TEXT, true, &[b'4'; 64]);
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch.extend_from_slice(&msg);
    }
    let mut sent = 0;
    let mut peak = base;
    // the write fails once the server closed the connection; 600 000 echoes are well past the
    // 32 MiB queue bound (each counted with its overhead)
    for _ in 0..600 {
        ws.write(&batch).await;
        sent += 1000;
        peak = peak.max(stress::vm_rss_kib());
        if !ep.session_exists(&sid, "websocket").await {
            break;
        }
    }
    eprintln!(
        "websocket flood: {sent} messages of 65 bytes sent; RSS peak +{} KiB",
        peak - base
    );
    assert_session_gone(&ep, &sid, "websocket").await;
    assert!(peak - base < 64 * MIB, "peak +{} MiB", (peak - base) / MIB);
    assert_engine_serves(&ep.target).await;
}

/// One POST of a megabyte of Socket.IO events (about 62 000): each is handled and answered
/// in order.
#[tokio::test]
async fn megabyte_of_socketio_events_in_one_post() {
    if skip_external("Node misses its 200 ms ping timeout while it works through the flood") {
        return;
    }
    let _heavy = stress::HEAVY.lock().await;
    let target = support::start().await;
    let (mut c, _) = SioClient::connected(&target, Transport::Polling, "/", None).await;
    let mut payload = String::new();
    let mut count = 0;
    while payload.len() < 990_000 {
        if count > 0 {
            payload.push(SEPARATOR);
        }
        payload.push_str(&format!("42[\"message\",{count}]"));
        count += 1;
    }
    let res = c.post(&payload).await.expect("POST");
    assert_eq!((res.status, res.body.as_slice()), (200, &b"ok"[..]));
    for i in 0..count {
        match c.next_within(Duration::from_secs(30)).await {
            Next::Packet(p) => assert_eq!(p.data(), &json!(["message-back", i])),
            other => panic!("echo {i} of {count}: {other:?}"),
        }
    }
    c.assert_echo_works("after the flood").await;
}

/// 5 000 CONNECTs to namespaces that do not exist, in one POST: each is refused with
/// `44/nope-N,{"message":"Invalid namespace"}` and the session stays open (Node's answer).
#[tokio::test]
async fn thousands_of_connects_to_unknown_namespaces() {
    if skip_external("Node misses its 200 ms ping timeout while it works through the flood") {
        return;
    }
    let target = support::start().await;
    // joined `/` first: refusals do not stop the connect timeout (1 s here)
    let (mut c, _) = SioClient::connected(&target, Transport::Polling, "/", None).await;
    let payload: Vec<String> = (0..5_000).map(|i| format!("40/nope-{i},")).collect();
    let res = c
        .post(&payload.join(&SEPARATOR.to_string()))
        .await
        .expect("POST");
    assert_eq!(res.status, 200);
    for i in 0..5_000 {
        let p = c.expect_packet().await;
        assert_eq!(
            p.encode(),
            format!(r#"4/nope-{i},{{"message":"Invalid namespace"}}"#)
        );
    }
    c.assert_echo_works("after 5000 refusals").await;
}
