//! Handshake over polling and WebSocket.

use std::collections::HashSet;

use super::assert_still_serves;
use crate::support::eio::parse_open;
use crate::support::{self, WsEvent};

fn assert_open_fields(open: &serde_json::Value, upgrades: serde_json::Value) {
    let keys: HashSet<&str> = open
        .as_object()
        .expect("open JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "sid",
            "upgrades",
            "pingInterval",
            "pingTimeout",
            "maxPayload"
        ])
    );
    assert!(!open["sid"].as_str().expect("sid is a string").is_empty());
    assert_eq!(open["upgrades"], upgrades);
    assert_eq!(open["pingInterval"], 300);
    assert_eq!(open["pingTimeout"], 200);
    assert_eq!(open["maxPayload"], 1_000_000);
}

#[tokio::test]
async fn polling_handshake_sends_open_packet() {
    let ep = support::start().await.engine();
    let res = ep.target.get(&ep.url("EIO=4&transport=polling")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.mime().as_deref(), Some("text/plain"));
    let ct = res
        .header("content-type")
        .unwrap()
        .to_ascii_lowercase()
        .replace(' ', "");
    assert_eq!(ct, "text/plain;charset=utf-8");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.text();
    assert!(
        !body.contains('\u{1e}'),
        "the handshake answer is the open packet alone: {body:?}"
    );
    let open = parse_open(&body);
    assert_open_fields(&open, serde_json::json!(["websocket"]));
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn sids_are_distinct() {
    let ep = support::start().await.engine();
    let mut sids = HashSet::new();
    for _ in 0..8 {
        let (sid, _) = ep.handshake_polling().await;
        assert!(sids.insert(sid.clone()), "sid {sid} handed out twice");
    }
    let (_ws, sid, _) = ep.handshake_ws().await;
    assert!(sids.insert(sid.clone()), "sid {sid} handed out twice");
}

#[tokio::test]
async fn websocket_handshake_sends_open_packet_first() {
    let ep = support::start().await.engine();
    let mut ws = ep.ws_connect(None).await;
    let open = match ws.recv().await {
        WsEvent::Text(t) => parse_open(&t),
        other => panic!("first frame must be the open packet, got {other:?}"),
    };
    assert_open_fields(&open, serde_json::json!([]));
    // The session works: echo.
    ws.send_text("4hi").await;
    assert_eq!(ws.recv_skip_pings().await, WsEvent::Text("4hi".into()));
    ws.close().await;
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn percent_encoded_query_values_are_accepted() {
    let ep = support::start().await.engine();
    let res = ep
        .target
        .get(&ep.url("EIO=%34&transport=%70olling&t=Pq%2Fx"))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.text());
    let open = parse_open(&res.text());
    let sid = open["sid"].as_str().unwrap().to_string();
    // The sid itself percent-encoded still names the session.
    let encoded: String = sid.bytes().map(|b| format!("%{b:02X}")).collect();
    ep.send(&sid, "4x").await;
    let res = ep
        .target
        .get(&ep.url(&format!("EIO=4&transport=polling&sid={encoded}")))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "4x");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn cache_busting_and_unknown_query_params_are_ignored() {
    let ep = support::start().await.engine();
    let res = ep
        .target
        .get(&ep.url("EIO=4&transport=polling&t=OzxK3aB&foo=bar"))
        .await;
    assert_eq!(res.status, 200);
    parse_open(&res.text());
    assert_still_serves(&ep).await;
}
