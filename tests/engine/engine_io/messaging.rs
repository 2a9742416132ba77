//! Message echo over polling and WebSocket.

use std::time::Duration;

use super::assert_still_serves;
use crate::support::eio::{TEXT_PLAIN, decode_payload};
use crate::support::{self, Packet, WsEvent};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn post_is_answered_ok() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep.send(&sid, "4hello").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "ok");
    assert_eq!(res.mime().as_deref(), Some("text/html"));
    assert_eq!(res.header("content-length"), Some("2"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_echoes_text() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    ep.send_packets(&sid, &[Packet::text("4hello é€ 😀")]).await;
    let res = ep.poll(&sid).await;
    assert_eq!(res.status, 200);
    let ct = res
        .header("content-type")
        .unwrap()
        .to_ascii_lowercase()
        .replace(' ', "");
    assert_eq!(ct, "text/plain;charset=utf-8");
    assert_eq!(
        res.header("content-length").map(str::to_string),
        Some(res.body.len().to_string())
    );
    assert_eq!(
        decode_payload(&res.text()),
        vec![Packet::text("4hello é€ 😀")]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_echoes_binary_as_base64() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep.send(&sid, "bAAEC/w==").await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    let res = ep.poll(&sid).await;
    assert_eq!(res.status, 200);
    // v4 polling always answers text, binary included (base64).
    assert_eq!(res.mime().as_deref(), Some("text/plain"));
    assert_eq!(res.text(), "bAAEC/w==");
    assert_eq!(
        decode_payload(&res.text()),
        vec![Packet::Binary(vec![0, 1, 2, 255])]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_echoes_a_batch_in_order() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let sent = vec![
        Packet::text("4first"),
        Packet::Binary(vec![1, 2, 3]),
        Packet::text("4"),
        Packet::text("4third\nline"),
        Packet::Binary(vec![]),
    ];
    ep.send_packets(&sid, &sent).await;
    let mut got = Vec::new();
    while got.len() < sent.len() {
        got.extend(ep.poll_until_data(&sid, WAIT).await);
    }
    assert_eq!(got, sent);
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_post_with_content_type_missing_is_accepted() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep
        .target
        .request("POST", &ep.polling_url(&sid), &[], b"4plain")
        .await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_eq!(
        ep.poll_until_data(&sid, WAIT).await,
        vec![Packet::text("4plain")]
    );
    let res = ep
        .target
        .post(&ep.polling_url(&sid), TEXT_PLAIN, b"4typed")
        .await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_eq!(
        ep.poll_until_data(&sid, WAIT).await,
        vec![Packet::text("4typed")]
    );
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let ep = support::start().await.engine();
    let (mut ws, _sid, _) = ep.handshake_ws().await;
    ws.send_text("4hello é").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4hello é".into()));
    // v4 WebSocket binary frames carry the bare bytes (no type byte).
    ws.send_binary(&[0, 1, 2, 255]).await;
    assert_eq!(
        ws.recv_skip_pings().await,
        WsEvent::Binary(vec![0, 1, 2, 255])
    );
    ws.send_text("4").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4".into()));
    ws.close().await;
    assert_still_serves(&ep).await;
}
