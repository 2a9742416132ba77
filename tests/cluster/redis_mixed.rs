//! A mixed cluster: Rust nodes and Node.js nodes (`socket.io` 4.8 with
//! `@socket.io/redis-adapter` 8.3, `tests/js/redis-node.mjs`) on one private `redis-server`, a
//! real `socket.io-client` on each. Every cluster operation runs from every node, so each one
//! crosses Rust→Node, Node→Rust (and Rust→Rust, Node→Node), in the classic and the sharded
//! format. Then nodes die and stop being counted. And a socket on another node, Rust or Node,
//! is found by its data and acted on.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tower_socketio::adapter::redis::{RedisMode, SubscriptionMode};

use crate::support::redis::{Cluster, JsNode, Node, RedisServer, RustNode, config, run_mixed};

async fn mixed(mode: RedisMode, key: &str, node_mode: Option<&str>) {
    let server = RedisServer::shared();
    // Each test has its own channel prefix (Pub/Sub ignores Redis databases).
    let nodes = vec![
        Node::Rust(RustNode::start("r1", config(server, mode).key(key)).await),
        Node::Js(JsNode::start("n1", &server.url(), key, node_mode).await),
        Node::Rust(RustNode::start("r2", config(server, mode).key(key)).await),
        Node::Js(JsNode::start("n2", &server.url(), key, node_mode).await),
    ];
    run_mixed(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_classic() {
    mixed(RedisMode::Classic, "mixed-classic", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_sharded() {
    mixed(
        RedisMode::Sharded(SubscriptionMode::Dynamic),
        "mixed-sharded",
        Some("dynamic"),
    )
    .await;
}

/// Answers on each requester's own response channel (Node's
/// `publishOnSpecificResponseChannel`), on both kinds of node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_classic_specific_response_channel() {
    let server = RedisServer::shared();
    let key = "mixed-specific";
    let cfg = || {
        config(server, RedisMode::Classic)
            .key(key)
            .publish_on_specific_response_channel(true)
    };
    let nodes = vec![
        Node::Rust(RustNode::start("r1", cfg()).await),
        Node::Js(JsNode::start_with("n1", &server.url(), key, None, true).await),
        Node::Rust(RustNode::start("r2", cfg()).await),
    ];
    let mut cluster = Cluster::start(nodes).await;
    for from in 0..cluster.nodes.len() {
        cluster.run_from(from).await;
    }
}

/// `fetch_sockets` on a Rust node finds a socket on another node by its data (Node's
/// `socket.data`), on a Rust peer and on a Node peer, and every operation on what it found
/// reaches that socket's client: emit, join, leave, disconnect.
async fn found_by_data(mode: RedisMode, key: &str, node: JsNode) {
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct User {
        user: String,
    }
    let server = RedisServer::shared();
    let cfg = || config(server, mode).key(key).stream_name(key);
    let nodes = vec![
        Node::Rust(RustNode::start("r1", cfg()).await),
        Node::Rust(RustNode::start("r2", cfg()).await),
        Node::Js(node),
    ];
    let cluster = Cluster::start(nodes).await;
    let r1 = cluster.nodes[0].rust().expect("r1 is a Rust node");
    let clients = &cluster.clients;
    for (done, target) in ["c-r2", "c-n1"].into_iter().enumerate() {
        clients
            .emit(target, "set-data", json!([{ "user": target }]))
            .await;
        let sockets = r1.io.fetch_sockets().await.expect("fetch_sockets");
        // Minus the sockets disconnected so far.
        assert_eq!(sockets.len(), 3 - done, "the sockets in /");
        let local = sockets.iter().find(|s| s.local.is_some()).expect("c-r1");
        assert_eq!(local.data::<Value>(), None, "c-r1 has no data");
        let found: Vec<_> = sockets
            .iter()
            .filter(|s| s.data::<User>().is_some_and(|u| u.user == target))
            .collect();
        let seen: Vec<_> = sockets.iter().map(|s| (s.id, s.data::<Value>())).collect();
        assert_eq!(found.len(), 1, "{target} found by its data: {seen:?}");
        let socket = found[0];
        assert_eq!(socket.id.as_str(), cluster.sids[target], "{target}'s id");
        assert_eq!(socket.data::<Value>(), Some(json!({ "user": target })));

        let ev = format!("direct-{target}");
        socket.emit(&ev, &"found you").expect("emit");
        clients.wait_all(&ev, &[target]).await;

        let room = format!("found-{target}");
        socket.join(room.clone()).expect("join");
        wait_members(r1, &room, &[socket.id.as_str()]).await;
        let ev = format!("in-{room}");
        r1.io.to(room.clone()).emit(&ev, &1).expect("emit to room");
        clients.wait_all(&ev, &[target]).await;

        socket.leave(room.clone()).expect("leave");
        wait_members(r1, &room, &[]).await;

        socket.disconnect(false).expect("disconnect");
        let reason = clients.wait_disconnect(target).await;
        assert_eq!(reason, "io server disconnect", "{target} disconnected");
        for ev in [format!("direct-{target}"), format!("in-found-{target}")] {
            let got = clients.receivers(&ev);
            assert_eq!(
                got.into_iter().collect::<Vec<_>>(),
                [target],
                "{ev} receivers"
            );
        }
    }
}

/// Waits until `room`, seen from `node`, holds exactly `members`.
async fn wait_members(node: &RustNode, room: &str, members: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sockets = node
            .io
            .within(room.to_owned())
            .fetch_sockets()
            .await
            .expect("fetch_sockets");
        let mut got: Vec<String> = sockets.iter().map(|s| s.id.to_string()).collect();
        got.sort();
        if got == members {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{room}: {got:?}, expected {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_by_data_classic() {
    let url = RedisServer::shared().url();
    let node = JsNode::start("n1", &url, "data-classic", None).await;
    found_by_data(RedisMode::Classic, "data-classic", node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_by_data_sharded() {
    let url = RedisServer::shared().url();
    let node = JsNode::start("n1", &url, "data-sharded", Some("dynamic")).await;
    let mode = RedisMode::Sharded(SubscriptionMode::Dynamic);
    found_by_data(mode, "data-sharded", node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_by_data_streams() {
    let url = RedisServer::shared().url();
    let node = JsNode::start_streams("n1", &url, "data-streams", None).await;
    found_by_data(RedisMode::Streams, "data-streams", node).await;
}
