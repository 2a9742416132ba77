//! A mixed PostgreSQL cluster: Rust nodes and Node.js nodes running the real
//! `@socket.io/postgres-adapter` 0.5 (`tests/js/redis-node.mjs` with `PG_URL`) on one fresh
//! database, a real `socket.io-client` on each; and Node's `@socket.io/postgres-emitter` 0.1
//! reaching the clients of Rust nodes.

use std::time::Duration;

use serde_json::json;

use crate::support::postgres::{JsEmitter, TestDb};
use crate::support::redis::{Cluster, Node, run_mixed};

/// Every cluster operation from every node of `[r1, n1, r2, n2]`, so each one crosses
/// Rust→Node, Node→Rust, Rust→Rust and Node→Node; then n2 is killed outright and r2 stops, and
/// every remaining node stops counting them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_rust_and_node_nodes() {
    let db = TestDb::create().await;
    // r1 first: it creates the attachments table, which Node's adapter expects to exist.
    let r1 = db.rust_node("r1").await;
    let nodes = vec![
        Node::Rust(r1),
        Node::Js(db.js_node("n1").await),
        Node::Rust(db.rust_node("r2").await),
        Node::Js(db.js_node("n2").await),
    ];
    run_mixed(nodes).await;
}

/// Large and binary payloads go through the attachments table between Rust and Node nodes,
/// both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_attachments_both_ways() {
    let db = TestDb::create().await;
    let r1 = db.rust_node("r1").await;
    let nodes = vec![Node::Rust(r1), Node::Js(db.js_node("n1").await)];
    let cluster = Cluster::start(nodes).await;
    let everyone = ["c-r1", "c-n1"];
    let large = "z".repeat(50_000);
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let ev = format!("large-{i}");
        node.emit(
            &crate::support::redis::Target::all(),
            &ev,
            vec![json!(large)],
        )
        .await;
        cluster.clients.wait_all(&ev, &everyone).await;
        for r in cluster.clients.received(&ev) {
            assert_eq!(r.args, json!([large]), "{ev} at {}", r.client);
        }
        let ev = format!("bin-{i}");
        node.emit_bin(&crate::support::redis::Target::all(), &ev, &data)
            .await;
        cluster.clients.wait_all(&ev, &everyone).await;
        for r in cluster.clients.received(&ev) {
            assert_eq!(
                r.args,
                json!([{"file": {"$bin": hex}, "size": data.len()}]),
                "{ev} at {}",
                r.client
            );
        }
    }
}

/// Node's postgres-emitter (which sends no `nsp`: our nodes take it from the channel) reaches
/// the clients of Rust nodes: emits to all, to a room, to another namespace, large and binary
/// ones (attachments), socketsJoin/Leave, serverSideEmit and disconnectSockets. It is never
/// counted as a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_emitter_reaches_our_clients() {
    let db = TestDb::create().await;
    let nodes = vec![
        Node::Rust(db.rust_node("r1").await),
        Node::Rust(db.rust_node("r2").await),
    ];
    let cluster = Cluster::start(nodes).await;
    let emitter = JsEmitter::start(&db).await;
    let clients = &cluster.clients;

    emitter
        .emit(None, &[], "from-emitter", json!(["hi", 1]))
        .await;
    clients.wait_all("from-emitter", &["c-r1", "c-r2"]).await;
    for r in clients.received("from-emitter") {
        assert_eq!(r.args, json!(["hi", 1]));
    }

    emitter
        .emit(None, &["room-c-r2"], "to-room", json!([]))
        .await;
    clients.wait_all("to-room", &["c-r2"]).await;

    emitter
        .emit(Some("/chat"), &["g0"], "chat", json!(["c"]))
        .await;
    clients.wait_all("chat", &["c-r1-chat"]).await;

    let large = "e".repeat(20_000);
    emitter.emit(None, &[], "large", json!([large])).await;
    clients.wait_all("large", &["c-r1", "c-r2"]).await;
    for r in clients.received("large") {
        assert_eq!(r.args, json!([large]));
    }

    emitter
        .emit(None, &[], "bin", json!([{"$bin": "00ff10"}]))
        .await;
    clients.wait_all("bin", &["c-r1", "c-r2"]).await;
    for r in clients.received("bin") {
        assert_eq!(r.args, json!([{"$bin": "00ff10"}]));
    }

    emitter
        .call(
            "socketsJoin",
            json!({ "rooms": ["room-c-r1"], "join": "joined" }),
        )
        .await;
    cluster.nodes[1].wait_server_count(2).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let fetched = cluster.nodes[1]
            .fetch_sockets(&crate::support::redis::Target::to(&["joined"]))
            .await;
        if fetched.len() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "socketsJoin from the emitter"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    emitter
        .call(
            "serverSideEmit",
            json!({ "event": "ping-cluster", "args": ["e"] }),
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for node in &cluster.nodes {
        while node.server_side_log().await.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "serverSideEmit from the emitter"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(node.server_side_log().await, vec![json!(["e"])]);
    }

    emitter
        .call(
            "disconnectSockets",
            json!({ "rooms": ["room-c-r2"], "close": true }),
        )
        .await;
    clients.wait_disconnect("c-r2").await;

    // The emitter was never taken for a node.
    for node in &cluster.nodes {
        assert_eq!(node.server_count().await, 2);
    }
}
