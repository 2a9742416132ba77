//! A mixed cluster: Rust nodes and Node.js nodes (`socket.io` 4.8 with
//! `@socket.io/redis-adapter` 8.3, `tests/js/redis-node.mjs`) on one private `redis-server`, a
//! real `socket.io-client` on each. Every cluster operation runs from every node, so each one
//! crosses Rust→Node, Node→Rust (and Rust→Rust, Node→Node), in the classic and the sharded
//! format. Then nodes die and stop being counted.
#![cfg(feature = "redis")]

#[path = "support/redis.rs"]
mod support;

use support::{Cluster, JsNode, Node, RedisServer, RustNode, config, run_mixed};
use tower_socketio::adapter::redis::{RedisMode, SubscriptionMode};

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
