//! Connection state recovery on the pub/sub modes of the Redis adapter (classic and sharded):
//! each node keeps its sessions and packet log in memory, as the memory adapter does. A client
//! recovers on the node it left, with every packet that node sent meanwhile once and in order,
//! and gets a new connection on any other node.
#![cfg(feature = "redis")]

use std::time::Duration;

use tower_socketio::adapter::redis::RedisMode;

use super::redis_streams::recover_across_with;
use crate::support::redis::{Node, RedisServer, RustNode, config};

const WINDOW: Duration = Duration::from_millis(1500);

async fn node(server: &RedisServer, name: &str, mode: RedisMode, key: &str) -> Node {
    let config = config(server, mode).key(key);
    Node::Rust(RustNode::start_with(name, config, Some(WINDOW)).await)
}

/// The client leaves `a` under a stream of room broadcasts and comes back to `a`: recovered,
/// every tick once, in order.
async fn recovers_on_the_same_node(mode: RedisMode, key: &str) {
    let server = RedisServer::shared();
    let a = node(server, "a", mode, key).await;
    let b = node(server, "b", mode, key).await;
    let own = a.url();
    let fast = [
        ("URL_DRIVER", own.as_str()),
        ("COUNT", "300"),
        ("EVERY_MS", "2"),
    ];
    recover_across_with(&a, &a, true, &fast).await;
    // Another node never had the session: a new connection there.
    recover_across_with(&a, &b, false, &[("URL_DRIVER", own.as_str())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_mode_recovers_on_the_same_node() {
    recovers_on_the_same_node(RedisMode::Classic, "recovery-classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_mode_recovers_on_the_same_node() {
    let mode = RedisMode::Sharded(Default::default());
    recovers_on_the_same_node(mode, "recovery-sharded").await;
}
