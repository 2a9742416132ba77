//! Upgrade from polling to WebSocket.

use std::time::Duration;

use super::assert_still_serves;
use crate::support::eio::{assert_error, decode_payload};
use crate::support::{self, Packet, WsEvent};

#[tokio::test]
async fn upgrade_releases_the_pending_poll_with_noop() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let pending = ep.start_poll(&sid).await;
    let mut ws = ep.ws_connect(Some(&sid)).await;
    ws.send_text("2probe").await;
    assert_eq!(ws.recv().await, WsEvent::Text("3probe".into()));
    let res = pending.response().await;
    assert_eq!(res.status, 200);
    let packets = decode_payload(&res.text());
    // A ping may have been due at the same time; the noop must be there.
    assert!(packets.contains(&Packet::text("6")), "{packets:?}");
    if packets.iter().any(Packet::is_ping) {
        ep.send(&sid, "3").await;
    }
    ws.send_text("5").await;
    // messages now flow over the WebSocket
    ws.send_text("4over ws").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4over ws".into()));
    ws.send_binary(&[9, 8, 7]).await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Binary(vec![9, 8, 7]));
    // the session no longer accepts polling requests
    assert_error(&ep.poll(&sid).await, 400, 3, "Bad request");
    assert_error(&ep.send(&sid, "4x").await, 400, 3, "Bad request");
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn packets_queued_during_upgrade_arrive_in_order_over_websocket() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let pending = ep.start_poll(&sid).await;
    let mut ws = ep.ws_connect(Some(&sid)).await;
    ws.send_text("2probe").await;
    assert_eq!(ws.recv().await, WsEvent::Text("3probe".into()));
    let res = pending.response().await;
    assert_eq!(res.status, 200);
    if decode_payload(&res.text()).iter().any(Packet::is_ping) {
        ep.send(&sid, "3").await;
    }
    // No GET is pending now: the echoes of these are queued by the server.
    let sent: Vec<Packet> = (0..10)
        .map(|i| {
            if i % 3 == 0 {
                Packet::Binary(vec![i])
            } else {
                Packet::Text(format!("4m{i}"))
            }
        })
        .collect();
    ep.send_packets(&sid, &sent[..5]).await;
    ep.send_packets(&sid, &sent[5..]).await;
    ws.send_text("5").await;
    let mut got = Vec::new();
    while got.len() < sent.len() {
        match ws.recv().await {
            WsEvent::Text(t) if t == "2" => ws.send_text("3").await,
            WsEvent::Text(t) if t == "6" => {}
            WsEvent::Text(t) => got.push(Packet::Text(t)),
            WsEvent::Binary(b) => got.push(Packet::Binary(b)),
            other => panic!("connection ended after {got:?}: {other:?}"),
        }
    }
    assert_eq!(got, sent);
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn helper_upgrade_then_echo() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let mut ws = ep.upgrade(&sid).await;
    for i in 0..3 {
        let msg = format!("4n{i}");
        ws.send_text(&msg).await;
        assert_eq!(ws.recv_skip_pings().await, WsEvent::Text(msg));
    }
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn second_websocket_for_an_upgraded_session_is_closed() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let mut ws = ep.upgrade(&sid).await;
    ws.send_text("4one").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4one".into()));
    // Node accepts the WebSocket handshake, then closes it at once.
    let url = ep
        .target
        .ws_url(&ep.url(&format!("EIO=4&transport=websocket&sid={sid}")));
    let mut second = support::WsClient::connect(&url)
        .await
        .expect("the second WebSocket is accepted (101), then closed");
    second.expect_closed_within(Duration::from_secs(5)).await;
    // the upgraded session is unaffected
    ws.send_text("4two").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4two".into()));
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn second_websocket_while_probing_is_closed() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let pending = ep.start_poll(&sid).await;
    let mut probe = ep.ws_connect(Some(&sid)).await;
    probe.send_text("2probe").await;
    assert_eq!(probe.recv().await, WsEvent::Text("3probe".into()));
    // Node accepts a second candidate WebSocket, then closes it at once.
    let mut second = ep.ws_connect(Some(&sid)).await;
    second.expect_closed_within(Duration::from_secs(5)).await;
    // The first probe still completes the upgrade.
    assert_eq!(pending.response().await.status, 200);
    probe.send_text("5").await;
    probe.send_text("4still mine").await;
    assert_eq!(
        probe.recv_skip_pings().await,
        WsEvent::Text("4still mine".into())
    );
    probe.close().await;
    assert_still_serves(&ep).await;
}

/// RFC 6455 §4.2.1: a key that is not the base64 of 16 bytes is refused like a missing one.
#[tokio::test]
async fn malformed_websocket_key_is_refused() {
    let ep = support::start().await.engine();
    let path = ep.url("EIO=4&transport=websocket");
    for key in [
        Some("not base64 at all"),
        Some("dGhlIHNhbXBsZSBub25j"),         // 15 bytes
        Some("dGhlIHNhbXBsZSBub25jZQ"),       // unpadded
        Some("dGhlIHNhbXBsZSBub25jZSE="),     // 17 bytes
        Some("dGhlIHNhbXBsZSBub25jZQ==AAAA"), // trailing data
        Some(""),
        None,
    ] {
        assert_eq!(
            raw_upgrade_status(&ep.target.addr, &path, key).await,
            400,
            "key {key:?}"
        );
    }
    assert_eq!(
        raw_upgrade_status(&ep.target.addr, &path, Some("dGhlIHNhbXBsZSBub25jZQ==")).await,
        101
    );
    assert_still_serves(&ep).await;
}

/// Sends a WebSocket handshake with `key` (none when `None`) and returns the status code.
async fn raw_upgrade_status(addr: &str, path: &str, key: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let key = key
        .map(|key| format!("Sec-WebSocket-Key: {key}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\n{key}\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("no answer in time")
            .expect("read");
        assert!(n > 0, "closed without an answer");
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

#[tokio::test]
async fn upgrade_for_unknown_sid_is_refused() {
    let ep = support::start().await.engine();
    let url = ep
        .target
        .ws_url(&ep.url("EIO=4&transport=websocket&sid=nope"));
    let err = support::WsClient::connect(&url)
        .await
        .err()
        .expect("upgrade must fail");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 400),
        other => panic!("expected an HTTP 400, got {other}"),
    }
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn packet_other_than_probe_aborts_the_upgrade() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let mut ws = ep.ws_connect(Some(&sid)).await;
    ws.send_text("4early").await;
    // Node closes the candidate WebSocket; the session stays on polling.
    ws.expect_closed_within(Duration::from_secs(3)).await;
    ep.send_packets(&sid, &[Packet::text("4polling")]).await;
    assert_eq!(
        ep.poll_until_data(&sid, Duration::from_secs(5)).await,
        vec![Packet::text("4polling")]
    );
    assert_still_serves(&ep).await;
}
