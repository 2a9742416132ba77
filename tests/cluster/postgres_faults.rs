//! The PostgreSQL adapter when things go wrong: its connections killed with
//! `pg_terminate_backend` mid-traffic, PostgreSQL restarting (a private server started with
//! `initdb` + `pg_ctl`), and junk on the channel.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::support::postgres::{PrivatePostgres, TestDb, rust_node};
use crate::support::redis::{Cluster, Node, RustNode, Target};

/// Emits `count` numbered broadcasts (`tick`, index) from `node`, one every `every`.
fn ticks(node: &RustNode, count: u64, every: Duration) -> tokio::task::JoinHandle<()> {
    let io = node.io.clone();
    tokio::spawn(async move {
        for i in 0..count {
            io.emit("tick", &i).ok();
            tokio::time::sleep(every).await;
        }
    })
}

/// The indexes of `tick` that `client` got, in the order it got them.
fn ticks_at(cluster: &Cluster, client: &str) -> Vec<u64> {
    cluster
        .clients
        .received("tick")
        .into_iter()
        .filter(|r| r.client == client)
        .filter_map(|r| r.args[0].as_u64())
        .collect()
}

/// Strictly increasing: no duplicate, no reordering.
fn assert_in_order(got: &[u64], what: &str) {
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "{what}: duplicated or out of order: {got:?}"
    );
}

/// Waits until `client` got tick `last`.
async fn wait_tick(cluster: &Cluster, client: &str, last: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while !ticks_at(cluster, client).contains(&last) {
        assert!(
            Instant::now() < deadline,
            "{client} never got tick {last}: {:?}",
            ticks_at(cluster, client)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every connection of both nodes is killed twice while r1 broadcasts: both reconnect,
/// delivery resumes, nothing is delivered twice or out of order, requests work again, and the
/// server count comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_traffic() {
    let db = TestDb::create().await;
    let nodes = vec![
        Node::Rust(db.rust_node("r1").await),
        Node::Rust(db.rust_node("r2").await),
    ];
    let cluster = Cluster::start(nodes).await;
    let Node::Rust(r1) = &cluster.nodes[0] else {
        unreachable!()
    };
    const N: u64 = 300;
    let sender = ticks(r1, N, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(600)).await;
    for round in 0..2 {
        let killed = db.kill_connections("r1").await + db.kill_connections("r2").await;
        assert!(killed >= 4, "round {round}: killed {killed} connections");
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    tokio::time::timeout(Duration::from_secs(20), sender)
        .await
        .expect("the sender never blocks")
        .expect("sender");
    // The last ticks, sent well after the kills, reach both clients.
    wait_tick(&cluster, "c-r2", N - 1, Duration::from_secs(15)).await;
    wait_tick(&cluster, "c-r1", N - 1, Duration::from_secs(15)).await;
    let local = ticks_at(&cluster, "c-r1");
    assert_eq!(local, (0..N).collect::<Vec<_>>(), "the sender's own client");
    let remote = ticks_at(&cluster, "c-r2");
    assert_in_order(&remote, "c-r2");
    println!(
        "c-r2 got {} of {N} ticks across two rounds of killed connections",
        remote.len()
    );
    // The nodes found each other again, and requests answer.
    for node in &cluster.nodes {
        node.wait_server_count(2).await;
    }
    let answers = cluster.nodes[1]
        .server_side_emit_with_ack("ping-cluster", vec![json!("after")])
        .await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    let fetched = cluster.nodes[0].fetch_sockets(&Target::all()).await;
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    // Each node has its three connections again (listen, publish, attachments only if used).
    for name in ["r1", "r2"] {
        let open = db.connections(name).await;
        assert!((2..=3).contains(&open), "{name} has {open} connections");
    }
}

/// PostgreSQL restarts (fast shutdown, then start) while r1 broadcasts: both nodes reconnect
/// on their own, delivery resumes in order without duplicates, and the cluster is whole again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_traffic() {
    let server = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .expect("private PostgreSQL");
    let db = TestDb::create_on(&server.connection()).await;
    let nodes = vec![
        Node::Rust(rust_node("r1", db.config("r1")).await),
        Node::Rust(rust_node("r2", db.config("r2")).await),
    ];
    let cluster = Cluster::start(nodes).await;
    let Node::Rust(r1) = &cluster.nodes[0] else {
        unreachable!()
    };
    const N: u64 = 200;
    let sender = ticks(r1, N, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        std::thread::sleep(Duration::from_millis(500));
        server.start_again();
        server
    })
    .await
    .expect("restart");
    tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("the sender never blocks")
        .expect("sender");
    wait_tick(&cluster, "c-r2", N - 1, Duration::from_secs(20)).await;
    let local = ticks_at(&cluster, "c-r1");
    assert_eq!(local, (0..N).collect::<Vec<_>>(), "the sender's own client");
    let remote = ticks_at(&cluster, "c-r2");
    assert_in_order(&remote, "c-r2");
    println!("c-r2 got {} of {N} ticks across a restart", remote.len());
    for node in &cluster.nodes {
        node.wait_server_count(2).await;
    }
    let answers = cluster.nodes[0]
        .server_side_emit_with_ack("ping-cluster", vec![json!("after restart")])
        .await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    drop(cluster);
    drop(db);
    drop(server);
}

/// Junk on the channel, with and without a `uid`, and attachment headers that lead nowhere: it
/// is ignored, never counted as a node, and the cluster carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_channel_is_ignored_and_never_a_node() {
    let db = TestDb::create().await;
    let nodes = vec![
        Node::Rust(db.rust_node("r1").await),
        Node::Rust(db.rust_node("r2").await),
    ];
    let cluster = Cluster::start(nodes).await;
    let client = db.client().await;
    let junk = [
        "not json",
        "",
        "[]",
        "null",
        r#"{"uid":"phantom1"}"#,
        r#"{"uid":"phantom2","type":99,"nsp":"/"}"#,
        r#"{"uid":"phantom3","type":"3","nsp":"/"}"#,
        r#"{"uid":"phantom4","type":3,"nsp":"/","data":7}"#,
        r#"{"uid":"phantom5","type":3,"nsp":"/","data":{"packet":{"type":2,"data":"x"}}}"#,
        r#"{"uid":"phantom6","type":8,"nsp":"/","data":{"sockets":[]}}"#,
        r#"{"uid":"phantom7","type":3,"attachmentId":"999999"}"#,
        r#"{"uid":"phantom8","type":3,"attachmentId":"x"}"#,
        r#"{"uid":7,"type":2,"nsp":"/"}"#,
        r#"{"type":2,"nsp":"/"}"#,
        r#"{"uid":"phantom9","type":2,"nsp":[]}"#,
    ];
    // Junk in the attachments table too: an attachment that is not MessagePack.
    let row = client
        .query_one(
            "INSERT INTO socket_io_attachments (payload) VALUES ($1) RETURNING id",
            &[&b"\xc1\xc1 not msgpack".to_vec()],
        )
        .await
        .expect("insert junk attachment");
    let id: i64 = row.get(0);
    let bad_attachment = format!(r#"{{"uid":"phantom10","type":3,"attachmentId":"{id}"}}"#);
    for payload in junk.iter().copied().chain([bad_attachment.as_str()]) {
        for channel in ["socket.io#/", "socket.io#/chat"] {
            client
                .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                .await
                .expect("notify junk");
        }
    }
    // After the junk, the cluster works and counts two nodes, for longer than a heartbeat
    // (Node counts a phantom for its heartbeat timeout).
    cluster
        .expect_delivery(
            0,
            &Target::all(),
            "after-junk",
            vec![json!(1)],
            &["c-r1".to_string(), "c-r2".to_string()],
        )
        .await;
    for _ in 0..10 {
        for node in &cluster.nodes {
            assert_eq!(node.server_count().await, 2, "junk counted as a node");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answers = cluster.nodes[1]
        .server_side_emit_with_ack("ping-cluster", vec![json!("ok")])
        .await;
    assert_eq!(answers.len(), 1);
}
