//! The adapter conformance suite: every adapter of the crate, and the custom adapter of
//! `examples/custom_adapter.rs`, carries the same cluster operations (broadcasts to rooms,
//! except and local, other namespaces, broadcasts with acks and binary acks, fetch with data,
//! join, leave, disconnect, server-side emits, server count), from every node, to real
//! `socket.io-client`s. A third-party adapter is held to the same suite by building its nodes
//! with [`RustNode::start_with_adapter`] and calling [`conform`].

#[path = "../../examples/custom_adapter.rs"]
mod custom_adapter;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::support::redis::{Cluster, Node, RedisServer, RustNode, config};
use tower_socketio::adapter::MemoryAdapter;
use tower_socketio::adapter::redis::{RedisMode, SubscriptionMode};

/// Runs every cluster operation from every node.
async fn conform(nodes: Vec<RustNode>) {
    let mut cluster = Cluster::start(nodes.into_iter().map(Node::Rust).collect()).await;
    for from in 0..cluster.nodes.len() {
        cluster.run_from(from).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_adapter() {
    let node = RustNode::start_with_adapter("m1", MemoryAdapter::builder(), None).await;
    conform(vec![node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_example_adapter() {
    let counters = Arc::new(custom_adapter::Counters::default());
    let node =
        RustNode::start_with_adapter("c1", custom_adapter::builder(counters.clone()), None).await;
    conform(vec![node]).await;
    // The suite went through the adapter, requests polled to the end included.
    assert!(counters.broadcasts.load(Ordering::Relaxed) > 0);
    assert!(counters.requests.load(Ordering::Relaxed) > 0);
}

async fn redis_nodes(mode: RedisMode, key: &str) {
    let server = RedisServer::shared();
    let mut nodes = Vec::new();
    for name in ["r1", "r2", "r3"] {
        // Each test has its own stream too (the streams mode keeps one per server).
        let config = config(server, mode).key(key).stream_name(key);
        nodes.push(RustNode::start(name, config).await);
    }
    conform(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_classic_three_nodes() {
    redis_nodes(RedisMode::Classic, "conform-classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sharded_three_nodes() {
    redis_nodes(
        RedisMode::Sharded(SubscriptionMode::Dynamic),
        "conform-sharded",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sharded_static_three_nodes() {
    redis_nodes(
        RedisMode::Sharded(SubscriptionMode::Static),
        "conform-static",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_three_nodes() {
    redis_nodes(RedisMode::Streams, "conform-streams").await;
}

/// Three nodes on the PostgreSQL adapter, on a fresh database.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_nodes() {
    let db = crate::support::postgres::TestDb::create().await;
    let mut nodes = Vec::new();
    for name in ["p1", "p2", "p3"] {
        nodes.push(db.rust_node(name).await);
    }
    conform(nodes).await;
}
