//! Parts of the classic protocol that Node's adapter 8.x still answers but no longer sends, so
//! the mixed cluster cannot exercise them: the `SOCKETS` request (0) and the one-socket form of
//! remote join, leave and disconnect (`{sid, room}`, answered with `{requestId}`).
#![cfg(feature = "redis")]

use serde_json::{Value, json};
use tower_socketio::adapter::redis::RedisMode;

use crate::support::redis::{
    Clients, Node, RawSubscriber, RedisServer, RustNode, Target, command, config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_requests_are_answered() {
    let server = RedisServer::shared();
    let node =
        Node::Rust(RustNode::start("r1", config(server, RedisMode::Classic).key("legacy")).await);
    node.wait_server_count(1).await;
    let clients = Clients::start().await;
    let sid = clients.connect("c1", &node.url()).await;
    clients.emit("c1", "join", json!(["room-x"])).await;
    let responses = RawSubscriber::new(server.port, "legacy-response#/#");
    let request = |body: Value| {
        command(
            server.port,
            &["PUBLISH", "legacy-request#/#", &body.to_string()],
        )
        .expect("publish");
    };

    request(json!({"uid": "old", "requestId": "s1", "type": 0, "rooms": ["room-x"]}));
    let answer = responses
        .wait_json("to SOCKETS", |v| v["requestId"] == "s1")
        .await;
    assert_eq!(answer, json!({"requestId": "s1", "sockets": [sid]}));

    request(json!({"uid": "old", "requestId": "j1", "type": 2, "sid": sid, "room": "joined"}));
    assert_eq!(
        responses
            .wait_json("to REMOTE_JOIN", |v| v["requestId"] == "j1")
            .await,
        json!({"requestId": "j1"})
    );
    assert_eq!(node.fetch_sockets(&Target::to(&["joined"])).await.len(), 1);

    request(json!({"uid": "old", "requestId": "l1", "type": 3, "sid": sid, "room": "joined"}));
    responses
        .wait_json("to REMOTE_LEAVE", |v| v["requestId"] == "l1")
        .await;
    assert_eq!(node.fetch_sockets(&Target::to(&["joined"])).await.len(), 0);

    request(json!({"uid": "old", "requestId": "a1", "type": 1}));
    let rooms = responses
        .wait_json("to ALL_ROOMS", |v| v["requestId"] == "a1")
        .await;
    let mut rooms: Vec<String> = serde_json::from_value(rooms["rooms"].clone()).unwrap();
    rooms.sort();
    let mut want = vec!["room-x".to_string(), sid.clone()];
    want.sort();
    assert_eq!(rooms, want);

    request(json!({"uid": "old", "requestId": "d1", "type": 4, "sid": sid, "close": false}));
    responses
        .wait_json("to REMOTE_DISCONNECT", |v| v["requestId"] == "d1")
        .await;
    assert_eq!(clients.wait_disconnect("c1").await, "io server disconnect");
}
