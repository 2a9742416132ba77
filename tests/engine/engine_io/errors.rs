//! Error answers: bad transports, sids, methods, protocol versions, overlapping
//! polls, oversized and malformed payloads.

use std::time::Duration;

use super::assert_still_serves;
use crate::support::eio::assert_error;
use crate::support::http::build_request;
use crate::support::{self, Packet, WsEvent};

#[tokio::test]
async fn unknown_transport() {
    let ep = support::start().await.engine();
    for query in [
        "EIO=4&transport=foo",
        "EIO=4&transport=__proto__",
        "EIO=4&transport=constructor",
        "EIO=4&transport=hasOwnProperty",
        "EIO=4&transport=webtransport",
        "EIO=4&transport=",
        "EIO=4",
    ] {
        let res = ep.target.get(&ep.url(query)).await;
        assert_error(&res, 400, 0, "Transport unknown");
    }
    // The transport is checked before the sid and the method.
    let res = ep
        .target
        .post(&ep.url("EIO=4&transport=foo&sid=nope"), "text/plain", b"4x")
        .await;
    assert_error(&res, 400, 0, "Transport unknown");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn unknown_sid() {
    let ep = support::start().await.engine();
    let res = ep.poll("nope").await;
    assert_error(&res, 400, 1, "Session ID unknown");
    let res = ep.send("nope", "4hello").await;
    assert_error(&res, 400, 1, "Session ID unknown");
    for sid in ["__proto__", "constructor", "toString"] {
        let res = ep.poll(sid).await;
        assert_error(&res, 400, 1, "Session ID unknown");
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn bad_handshake_method() {
    let ep = support::start().await.engine();
    let res = ep
        .target
        .post(&ep.url("EIO=4&transport=polling"), "text/plain", b"4hello")
        .await;
    assert_error(&res, 400, 2, "Bad handshake method");
    for method in ["PUT", "DELETE", "PATCH"] {
        let res = ep
            .target
            .request(method, &ep.url("EIO=4&transport=polling"), &[], b"")
            .await;
        assert_error(&res, 400, 2, "Bad handshake method");
    }
    let res = ep
        .target
        .request("HEAD", &ep.url("EIO=4&transport=polling"), &[], b"")
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.mime().as_deref(), Some("application/json"));
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn bad_request() {
    let ep = support::start().await.engine();
    // transport=websocket without an Upgrade header, no sid
    let res = ep.target.get(&ep.url("EIO=4&transport=websocket")).await;
    assert_error(&res, 400, 3, "Bad request");
    // a polling session addressed with the websocket transport, no upgrade
    let (sid, _) = ep.handshake_polling().await;
    let res = ep
        .target
        .get(&ep.url(&format!("EIO=4&transport=websocket&sid={sid}")))
        .await;
    assert_error(&res, 400, 3, "Bad request");
    // an existing session addressed with another protocol revision
    let res = ep
        .target
        .get(&ep.url(&format!("transport=polling&sid={sid}")))
        .await;
    assert_error(&res, 400, 3, "Bad request");
    // none of these touched the session
    ep.send_packets(&sid, &[Packet::text("4still")]).await;
    assert_eq!(
        ep.poll_until_data(&sid, Duration::from_secs(5)).await,
        vec![Packet::text("4still")]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn unsupported_protocol_version() {
    let ep = support::start().await.engine();
    for query in [
        "EIO=5&transport=polling",
        "EIO=3&transport=polling",
        "EIO=abc&transport=polling",
        "EIO=&transport=polling",
        "transport=polling",
    ] {
        let res = ep.target.get(&ep.url(query)).await;
        assert_error(&res, 400, 5, "Unsupported protocol version");
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn error_answers_carry_cors_headers() {
    let ep = support::start().await.engine();
    let res = ep
        .target
        .request(
            "GET",
            &ep.url("EIO=4&transport=foo"),
            &[("Origin", "http://example.com")],
            b"",
        )
        .await;
    assert_error(&res, 400, 0, "Transport unknown");
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_still_serves(&ep).await;
}

/// Sends a raw WebSocket upgrade request and returns the response head and body.
async fn raw_upgrade(ep: &support::Endpoint, query: &str) -> support::Response {
    let mut conn = ep.target.connect().await;
    let req = build_request(
        "GET",
        &ep.target.addr,
        &ep.url(query),
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        b"",
    );
    conn.write_raw(&req).await.expect("write upgrade request");
    conn.read_response(false).await.expect("upgrade response")
}

#[tokio::test]
async fn websocket_upgrade_errors_are_plain_400() {
    let ep = support::start().await.engine();
    for (query, message) in [
        ("EIO=4&transport=websocket&sid=nope", "Session ID unknown"),
        ("EIO=4&transport=foo", "Transport unknown"),
    ] {
        let res = raw_upgrade(&ep, query).await;
        assert_eq!(res.status, 400, "{query}");
        assert_eq!(res.mime().as_deref(), Some("text/html"), "{query}");
        assert_eq!(res.text(), message, "{query}");
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn websocket_handshake_with_unsupported_protocol_is_refused() {
    let ep = support::start().await.engine();
    let url = ep.target.ws_url(&ep.url("EIO=5&transport=websocket"));
    // Node completes the WebSocket handshake and only then writes an HTTP 400
    // into the stream and drops the connection; a server may as well refuse
    // the upgrade. Either way no open packet ever arrives.
    if let Ok(mut ws) = support::WsClient::connect(&url).await {
        match ws.recv().await {
            WsEvent::Text(t) => assert!(!t.starts_with('0'), "got an open packet {t:?}"),
            WsEvent::Binary(_) | WsEvent::Close(_) | WsEvent::Gone => {}
        }
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn overlapping_get_poll_closes_the_session() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let first = ep.start_poll(&sid).await;
    let second = ep.poll(&sid).await;
    // Node: 400 with an empty body, and the session closes ("transport error")
    assert_eq!(second.status, 400);
    assert!(second.body.is_empty(), "{:?}", second.text());
    // ... which flushes a close packet to the poll that was pending.
    let first = first.response().await;
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn overlapping_post_closes_the_session() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    // a first POST whose body never completes
    let mut slow = ep.target.connect().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n4ab",
        ep.polling_url(&sid),
        ep.target.addr
    );
    slow.write_raw(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = ep.send(&sid, "4b").await;
    assert_eq!(res.status, 400);
    assert!(res.body.is_empty(), "{:?}", res.text());
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    drop(slow);
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn pending_poll_dropped_by_the_client_closes_the_session() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    ep.start_poll(&sid).await.abort();
    // Node: "transport error" (poll connection closed prematurely)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while ep.session_exists(&sid, "polling").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session still open after its poll was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn post_dropped_mid_body_closes_the_session() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let mut conn = ep.target.connect().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n4ab",
        ep.polling_url(&sid),
        ep.target.addr
    );
    conn.write_raw(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(conn);
    // Node: "transport error" (data request connection closed prematurely)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while ep.session_exists(&sid, "polling").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session still open after its POST was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn post_over_max_payload_is_413() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    // exactly maxPayload bytes is accepted
    let at_limit = format!("4{}", "a".repeat(999_999));
    let res = ep.send(&sid, &at_limit).await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_eq!(
        ep.poll_until_data(&sid, Duration::from_secs(5)).await,
        vec![Packet::Text(at_limit)]
    );
    // one byte more is refused
    let over = format!("4{}", "a".repeat(1_000_000));
    let res = ep.send(&sid, &over).await;
    assert_eq!(res.status, 413);
    // Node leaves the session open
    ep.send_packets(&sid, &[Packet::text("4after")]).await;
    assert_eq!(
        ep.poll_until_data(&sid, Duration::from_secs(5)).await,
        vec![Packet::text("4after")]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn websocket_message_over_max_payload_closes_1009() {
    let ep = support::start().await.engine();
    let (mut ws, sid, _) = ep.handshake_ws().await;
    ws.send_text(&format!("4{}", "a".repeat(999_999))).await;
    match ws.recv_skip_pings().await {
        WsEvent::Text(t) => assert_eq!(t.len(), 1_000_000),
        other => panic!("expected the echo, got {other:?}"),
    }
    ws.send_text(&format!("4{}", "a".repeat(1_000_000))).await;
    assert_eq!(
        ws.expect_closed_within(Duration::from_secs(5)).await,
        Some(1009)
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!ep.session_exists(&sid, "websocket").await);
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn undecodable_payload_in_post_closes_the_session() {
    let ep = support::start().await.engine();
    // unknown packet type, empty body, empty packet after a separator
    for payload in ["x", "9", "", "4a\u{1e}"] {
        let (sid, _) = ep.handshake_polling().await;
        let res = ep.send(&sid, payload).await;
        // Node answers ok (the body was read) and closes the session: "parse error"
        assert_eq!(
            (res.status, res.text().as_str()),
            (200, "ok"),
            "{payload:?}"
        );
        assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn client_ping_is_a_protocol_error_in_v4() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep.send(&sid, "2").await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    // Node: "transport error" (invalid heartbeat direction)
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    // over WebSocket too
    let (mut ws, sid, _) = ep.handshake_ws().await;
    ws.send_text("2").await;
    ws.expect_closed_within(Duration::from_secs(3)).await;
    assert!(!ep.session_exists(&sid, "websocket").await);
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn packets_clients_do_not_send_are_ignored() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    // open, upgrade (over polling), noop, and a pong nobody asked for
    for payload in ["0", "5", "6", "3"] {
        let res = ep.send(&sid, payload).await;
        assert_eq!(
            (res.status, res.text().as_str()),
            (200, "ok"),
            "{payload:?}"
        );
    }
    ep.send_packets(&sid, &[Packet::text("4still")]).await;
    assert_eq!(
        ep.poll_until_data(&sid, Duration::from_secs(5)).await,
        vec![Packet::text("4still")]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn octet_stream_post_is_refused_and_closes_the_session() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep
        .target
        .post(
            &ep.polling_url(&sid),
            "application/octet-stream",
            &[4, 1, 2],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.is_empty());
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    assert_still_serves(&ep).await;
}
