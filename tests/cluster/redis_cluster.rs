//! Three Rust nodes on one private `redis-server`, with a real `socket.io-client` on each: every
//! cluster operation from every node, in the classic, the sharded and the streams format.
#![cfg(feature = "redis")]

use tower_socketio::adapter::redis::{RedisMode, SubscriptionMode};

use crate::support::redis::{Cluster, Node, RedisServer, RustNode, config};

async fn three_rust_nodes(mode: RedisMode, key: &str) {
    let server = RedisServer::shared();
    let mut nodes = Vec::new();
    for name in ["r1", "r2", "r3"] {
        // Each test has its own stream too (the streams mode keeps one per server).
        let config = config(server, mode).key(key).stream_name(key);
        nodes.push(Node::Rust(RustNode::start(name, config).await));
    }
    let mut cluster = Cluster::start(nodes).await;
    for from in 0..3 {
        cluster.run_from(from).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_three_rust_nodes() {
    three_rust_nodes(RedisMode::Classic, "rust-classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_three_rust_nodes() {
    three_rust_nodes(
        RedisMode::Sharded(SubscriptionMode::Dynamic),
        "rust-sharded",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_static_three_rust_nodes() {
    three_rust_nodes(RedisMode::Sharded(SubscriptionMode::Static), "rust-static").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_three_rust_nodes() {
    three_rust_nodes(RedisMode::Streams, "rust-streams").await;
}
