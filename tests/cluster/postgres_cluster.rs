//! The PostgreSQL adapter between Rust nodes, each test on a fresh database of the machine's
//! PostgreSQL (see `support::postgres`): every cluster-wide operation across two nodes, large
//! and binary payloads through the attachments table, and the order of one sender's burst.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::postgres::TestDb;
use crate::support::redis::{Cluster, Node, Target};

/// Two Rust nodes, a real client on each: broadcasts (all, rooms, except, local, other
/// namespace), acks, fetchSockets, socketsJoin/Leave, disconnectSockets, serverSideEmit with
/// and without ack, server count, from each node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rust_nodes_every_operation() {
    let db = TestDb::create().await;
    let nodes = vec![
        Node::Rust(db.rust_node("r1").await),
        Node::Rust(db.rust_node("r2").await),
    ];
    let mut cluster = Cluster::start(nodes).await;
    for from in 0..cluster.nodes.len() {
        cluster.run_from(from).await;
    }
    // A node that closes says so: the other stops counting it at once (well before the
    // heartbeat timeout).
    let Some(Node::Rust(r2)) = cluster.nodes.pop() else {
        unreachable!()
    };
    r2.io.shutdown();
    tokio::time::timeout(
        Duration::from_millis(1500),
        cluster.nodes[0].wait_server_count(1),
    )
    .await
    .expect("r1 forgets r2 once it closed");
}

/// A payload over PostgreSQL's NOTIFY limit and a binary one go through the attachments table,
/// both ways, and arrive whole; the table holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_binary_payloads_through_the_attachments_table() {
    let db = TestDb::create().await;
    let nodes = vec![
        Node::Rust(db.rust_node("r1").await),
        Node::Rust(db.rust_node("r2").await),
    ];
    let cluster = Cluster::start(nodes).await;
    let everyone = ["c-r1", "c-r2"];
    let large = "x".repeat(100_000);
    for (from, node) in cluster.nodes.iter().enumerate() {
        let ev = format!("large-{from}");
        node.emit(&Target::all(), &ev, vec![json!(large), json!(from)])
            .await;
        cluster.clients.wait_all(&ev, &everyone).await;
        for r in cluster.clients.received(&ev) {
            assert_eq!(r.args, json!([large, from]), "{ev} at {}", r.client);
        }
        let ev = format!("bin-{from}");
        let data: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
        node.emit_bin(&Target::all(), &ev, &data).await;
        cluster.clients.wait_all(&ev, &everyone).await;
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        for r in cluster.clients.received(&ev) {
            assert_eq!(
                r.args,
                json!([{"file": {"$bin": hex}, "size": data.len()}]),
                "{ev} at {}",
                r.client
            );
        }
    }
    let client = db.client().await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM socket_io_attachments", &[])
        .await
        .expect("attachments")
        .get(0);
    assert!(
        rows >= 4,
        "the large and binary messages went through the table ({rows} rows)"
    );
}

/// A burst of 1 000 broadcasts from one node reaches a client of the other node, and the
/// sender's own client, all of them, in the order they were emitted (Node's adapter, which
/// publishes through a pool, reorders them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_sender_arrives_in_order() {
    let db = TestDb::create().await;
    let nodes = vec![
        Node::Rust(db.rust_node("r1").await),
        Node::Rust(db.rust_node("r2").await),
    ];
    let cluster = Cluster::start(nodes).await;
    let Node::Rust(r1) = &cluster.nodes[0] else {
        unreachable!()
    };
    const N: u64 = 1000;
    for i in 0..N {
        // Every tenth one is large, so it goes through the attachments table and must keep its
        // place among the small ones.
        let pad = if i % 10 == 0 {
            "y".repeat(9000)
        } else {
            String::new()
        };
        r1.io.emit("burst", &json!([i, pad])).expect("emit");
    }
    r1.io.emit("burst-end", &()).expect("emit");
    cluster
        .clients
        .wait_all("burst-end", &["c-r1", "c-r2"])
        .await;
    for client in ["c-r1", "c-r2"] {
        let got: Vec<u64> = cluster
            .clients
            .received("burst")
            .into_iter()
            .filter(|r| r.client == client)
            .map(|r| r.args[0][0].as_u64().expect("index"))
            .collect();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "the burst at {client}");
    }
}

/// A node that announced itself and then went silent is counted until the heartbeat timeout,
/// and a request in flight stops waiting for it once it is forgotten (rather than timing out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_goes_silent_is_forgotten_and_no_longer_waited_for() {
    let db = TestDb::create().await;
    let n1 = Node::Rust(db.rust_node("r1").await);
    let n2 = Node::Rust(db.rust_node("r2").await);
    n1.wait_server_count(2).await;
    n2.wait_server_count(2).await;
    let client = db.client().await;
    let ghost = r#"{"type":1,"uid":"0123456789abcdef","nsp":"/"}"#;
    client
        .execute("SELECT pg_notify('socket.io#/', $1)", &[&ghost])
        .await
        .expect("notify");
    n1.wait_server_count(3).await;
    let started = std::time::Instant::now();
    let answers = n1
        .server_side_emit_with_ack("ping-cluster", vec![json!("still there?")])
        .await;
    assert_eq!(answers.len(), 1, "only r2 answers: {answers:?}");
    assert_eq!(answers[0]["from"], Value::from("r2"));
    // Heartbeat timeout 2.5 s (checked every 0.5 s); the ack timeout is 5 s.
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "the request waited {:?} for a node that was gone",
        started.elapsed()
    );
    n1.wait_server_count(2).await;
}

/// Nodes that start at the same moment on a fresh database all get the attachments table
/// (PostgreSQL's `CREATE TABLE IF NOT EXISTS` races; the loser must not fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_create_the_table_once() {
    use tower_socketio::adapter::postgres::PostgresAdapter;
    let db = TestDb::create().await;
    let connects = (0..6).map(|i| PostgresAdapter::connect(db.config(&format!("s{i}"))));
    for result in futures_util::future::join_all(connects).await {
        result.expect("every node starts");
    }
}

/// Connection state recovery with the PostgreSQL adapter: each node keeps its sessions and
/// packet log in memory (as the Redis pub/sub modes do). A client recovers on the node it left,
/// every packet once and in order, and gets a new connection on another node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_on_the_same_node() {
    use crate::support::redis::RustNode;
    use tower_socketio::adapter::postgres::PostgresAdapter;
    const WINDOW: Duration = Duration::from_millis(1500);
    let db = TestDb::create().await;
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let builder = PostgresAdapter::connect(db.config(name))
            .await
            .expect("connect");
        nodes.push(Node::Rust(
            RustNode::start_with_adapter(name, builder, Some(WINDOW)).await,
        ));
    }
    for node in &nodes {
        node.wait_server_count(2).await;
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let own = a.url();
    let fast = [
        ("URL_DRIVER", own.as_str()),
        ("COUNT", "300"),
        ("EVERY_MS", "2"),
    ];
    super::redis_streams::recover_across_with(a, a, true, &fast).await;
    super::redis_streams::recover_across_with(a, b, false, &[("URL_DRIVER", own.as_str())]).await;
}
