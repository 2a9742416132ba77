//! Upgrade from polling to WebSocket.

use std::time::Duration;

use crate::assert_still_serves;
use crate::common::eio::{assert_error, decode_payload};
use crate::common::{self, Packet, WsEvent};

#[tokio::test]
async fn upgrade_releases_the_pending_poll_with_noop() {
    let ep = common::start().await.engine();
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
    let ep = common::start().await.engine();
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
    let ep = common::start().await.engine();
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
    let ep = common::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let mut ws = ep.upgrade(&sid).await;
    ws.send_text("4one").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4one".into()));
    // Node accepts the WebSocket handshake, then closes it at once.
    let url = ep
        .target
        .ws_url(&ep.url(&format!("EIO=4&transport=websocket&sid={sid}")));
    if let Ok(mut second) = common::WsClient::connect(&url).await {
        second.expect_closed_within(Duration::from_secs(5)).await;
    }
    // the upgraded session is unaffected
    ws.send_text("4two").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4two".into()));
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn upgrade_for_unknown_sid_is_refused() {
    let ep = common::start().await.engine();
    let url = ep
        .target
        .ws_url(&ep.url("EIO=4&transport=websocket&sid=nope"));
    let err = common::WsClient::connect(&url)
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
    let ep = common::start().await.engine();
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
