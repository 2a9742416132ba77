//! HTTP-level abuse: header floods, requests trickled byte by byte, heads and bodies that
//! never finish, absurd framing. The HTTP parser is hyper's (under `axum::serve`); what is
//! asserted is that each gets a definite answer or is left waiting without hanging anyone
//! else, and that what belongs to the Engine.IO layer (a POST body that never ends) ends with
//! its session, as in Node.

use std::time::Duration;

use super::{assert_engine_serves, assert_session_gone, skip_external};
use crate::support::http::build_request;
use crate::support::{self, Target};

/// Sends `bytes` on a fresh connection; returns the answer's status, or `None` when the
/// server closed the connection without one.
async fn status_of(target: &Target, bytes: &[u8]) -> Option<u16> {
    let mut conn = target.connect().await;
    conn.exchange(bytes, false).await.ok().map(|r| r.status)
}

fn handshake_with_headers(target: &Target, headers: &[(String, String)]) -> Vec<u8> {
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    build_request(
        "GET",
        &target.addr,
        "/engine.io/?EIO=4&transport=polling",
        &refs,
        b"",
    )
}

/// One header of 1 MiB. hyper refuses heads over its buffer (~400 KB) with
/// `431 Request Header Fields Too Large` (Node: 431 over 16 KiB).
#[tokio::test]
async fn one_huge_header_is_431() {
    if skip_external("hyper's limits, not Node's") {
        return;
    }
    let target = support::start().await;
    let big = vec![("X-Big".to_string(), "a".repeat(1 << 20))];
    let status = status_of(&target, &handshake_with_headers(&target, &big)).await;
    assert_eq!(status, Some(431));
    assert_engine_serves(&target).await;
}

/// 10 000 small headers: more than hyper's 100, so `431`.
#[tokio::test]
async fn ten_thousand_headers_are_431() {
    if skip_external("hyper's limits, not Node's") {
        return;
    }
    let target = support::start().await;
    let many: Vec<_> = (0..10_000)
        .map(|i| (format!("X-H{i}"), "v".to_string()))
        .collect();
    let status = status_of(&target, &handshake_with_headers(&target, &many)).await;
    assert_eq!(status, Some(431));
    assert_engine_serves(&target).await;
}

/// A query of 6 000 parameters (about 50 KB, under hyper's 64 KiB URI limit) is parsed like
/// any other.
#[tokio::test]
async fn huge_query_string_is_answered() {
    if skip_external("Node refuses request lines over 16 KiB with 431") {
        return;
    }
    let target = support::start().await;
    let mut query = String::from("/engine.io/?");
    for i in 0..6_000 {
        query.push_str(&format!("p{i}=%41&"));
    }
    // the last occurrence wins, as with URLSearchParams
    query.push_str("transport=foo&EIO=4&transport=polling");
    let res = target.get(&query).await;
    assert_eq!(res.status, 200, "{:?}", String::from_utf8_lossy(&res.body));
    assert!(res.text().starts_with("0{\"sid\""));
    // and a 60 KB sid is just unknown
    let res = target
        .get(&format!(
            "/engine.io/?EIO=4&transport=polling&sid={}",
            "A".repeat(60_000)
        ))
        .await;
    crate::support::eio::assert_error(&res, 400, 1, "Session ID unknown");
    assert_engine_serves(&target).await;
}

/// A handshake trickled one byte at a time still gets its open packet, and other clients are
/// served while it trickles.
#[tokio::test]
async fn request_trickled_byte_by_byte_is_answered_and_blocks_nobody() {
    let target = support::start().await;
    let bytes = build_request(
        "GET",
        &target.addr,
        "/engine.io/?EIO=4&transport=polling",
        &[("User-Agent", "slowloris")],
        b"",
    );
    let mut slow = target.connect().await;
    let (half, rest) = bytes.split_at(bytes.len() / 2);
    for b in half {
        slow.write_raw(std::slice::from_ref(b)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // half-way through, a fresh client is served
    assert_engine_serves(&target).await;
    for b in rest {
        slow.write_raw(std::slice::from_ref(b)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let res = slow.read_response(false).await.expect("answer");
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with("0{\"sid\""));
}

/// 200 connections that sent half a request head and stopped: fresh clients are still served.
#[tokio::test]
async fn many_unfinished_heads_block_nobody() {
    let target = support::start().await;
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut conn = target.connect().await;
        conn.write_raw(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Sl")
            .await
            .unwrap();
        stalled.push(conn);
    }
    assert_engine_serves(&target).await;
    super::assert_sio_serves(&target).await;
    drop(stalled);
    assert_engine_serves(&target).await;
}

/// A POST whose body never ends (the client keeps the connection open but sends nothing more).
///
/// Other clients are served meanwhile. The session cannot answer pings (a second POST would
/// be an overlap), so it closes at its ping timeout. Node then destroys the pending data
/// request (engine.io `transports/polling.js` `doClose`: `if (this.dataReq) this.dataReq.destroy()`),
/// which closes the connection: the stalled request does not outlive its session.
#[tokio::test]
async fn post_body_that_never_ends_dies_with_its_session() {
    let target = support::start().await;
    let ep = target.engine();
    let (sid, _) = ep.handshake_polling().await;
    let mut conn = target.connect().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000\r\n\r\n4abc",
        ep.polling_url(&sid),
        target.addr
    );
    conn.write_raw(head.as_bytes()).await.unwrap();
    // other clients are not held up
    assert_engine_serves(&target).await;
    // pingInterval 300 + pingTimeout 200: the session closes with "ping timeout"
    assert_session_gone(&ep, &sid, "polling").await;
    // ... and takes its stalled request with it
    assert!(
        conn.closed_within(Duration::from_secs(5)).await,
        "the POST whose body never ends is still open 5 s after its session closed"
    );
}

/// Conflicting or absurd framing is refused by the HTTP layer with 400, without hanging.
#[tokio::test]
async fn absurd_framing_is_refused() {
    if skip_external("hyper's answers, not Node's") {
        return;
    }
    let target = support::start().await;
    let ep = target.engine();
    let (sid, _) = ep.handshake_polling().await;
    let url = ep.polling_url(&sid);
    let addr = &target.addr;
    for (name, req) in [
        (
            "Content-Length overflowing u64",
            format!(
                "POST {url} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 99999999999999999999999\r\n\r\n4a"
            ),
        ),
        (
            "negative Content-Length",
            format!("POST {url} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: -1\r\n\r\n4a"),
        ),
        (
            "two different Content-Lengths",
            format!(
                "POST {url} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n4ab"
            ),
        ),
        (
            "chunk size overflowing",
            format!(
                "POST {url} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n4a\r\n0\r\n\r\n"
            ),
        ),
        (
            "garbage request line",
            "\x00\x01\x02 / HTTP/1.1\r\n\r\n".to_string(),
        ),
    ] {
        let status = status_of(&target, req.as_bytes()).await;
        assert!(matches!(status, Some(400) | None), "{name}: {status:?}");
    }
    assert_engine_serves(&target).await;
}
