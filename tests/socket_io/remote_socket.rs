//! `fetch_sockets` returns sockets one can act on, as Node's `RemoteSocket`.

use serde_json::json;

use crate::support;
use crate::support::Target;
use crate::support::sio::{SioClient, Transport};

#[tokio::test]
async fn fetched_sockets_can_be_emitted_to_joined_and_disconnected() {
    let io = support::conformance::socket_io();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = Target {
        addr: listener.local_addr().expect("addr").to_string(),
    };
    tokio::spawn({
        let io = io.clone();
        async move { io.serve(listener).await }
    });
    let (mut a, a_id) = SioClient::connected(&target, Transport::WebSocket, "/", None).await;
    let (mut b, b_id) = SioClient::connected(&target, Transport::Polling, "/", None).await;

    let sockets = io.fetch_sockets().await.expect("fetch");
    assert_eq!(sockets.len(), 2);
    let a_remote = sockets
        .iter()
        .find(|s| s.id.as_str() == a_id)
        .expect("a is fetched");
    a_remote.emit("just-you", &"hello a").expect("emit");
    let (data, _) = a.expect_event("/", "just-you").await;
    assert_eq!(data, json!(["just-you", "hello a"]));

    a_remote.join("picked").expect("join");
    io.to("picked").emit("news", &1).expect("emit to room");
    let (data, _) = a.expect_event("/", "news").await;
    assert_eq!(data, json!(["news", 1]));

    let b_remote = sockets
        .iter()
        .find(|s| s.id.as_str() == b_id)
        .expect("b is fetched");
    b_remote.disconnect(false).expect("disconnect");
    let packet = b.expect_packet().await;
    assert_eq!(packet.kind, 1, "b gets a DISCONNECT: {packet}");
    assert_eq!(io.fetch_sockets().await.expect("fetch").len(), 1);
    io.shutdown().await;
}
