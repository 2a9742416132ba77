//! Readiness: a node that awaited `SocketIo::ready` gets what another node publishes right
//! after, in every mode: for the namespaces it started with, for a namespace added later and
//! for a dynamic namespace, whose first client is answered only once the node listens to it.
//! The node reaches Redis through a proxy that holds back its commands, as a far-away Redis
//! would, so its subscriptions take a while to be confirmed.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use tower_socketio::extract::SocketRef;

use crate::support::redis::{Clients, RedisServer, RustNode};
use crate::support::slow_proxy::SlowProxy;

/// How long the proxy holds back each command of the slow node.
const DELAY: Duration = Duration::from_millis(200);

fn config(url: String, mode: RedisMode, key: &str) -> RedisAdapterConfig {
    RedisAdapterConfig::new(url)
        .mode(mode)
        .key(key)
        .stream_name(key)
        .requests_timeout(Duration::from_secs(3))
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ready_then_publish(mode: RedisMode, key: &str) {
    let server = RedisServer::shared();
    let clients = Clients::start().await;
    let a = RustNode::start("a", config(server.url(), mode, key)).await;
    for ns in ["/late", "/dyn-1"] {
        a.io.ns(ns, |_: SocketRef| {});
    }
    let proxy = SlowProxy::start(server.port, DELAY).await;
    let b = RustNode::start("b", config(proxy.url(), mode, key)).await;
    b.io.dyn_ns(|name| name.starts_with("/dyn-"), |_: SocketRef| {});

    // The namespaces it started with (`/`, `/chat`): a server-side emit right after.
    b.io.ready().await.expect("b is ready");
    a.io.server_side_emit("ping-cluster", &"right after")
        .expect("server-side emit");
    wait_until(
        "b gets the server-side emit sent right after it was ready",
        || b.server_side.lock().unwrap().len() == 1,
    )
    .await;

    // A namespace added later: the others count b there at once, and a client that joined it
    // gets a broadcast sent right after.
    b.io.ns("/late", |_: SocketRef| {});
    b.io.ready().await.expect("b is ready in /late");
    let late = || a.io.of("/late").expect("/late on a");
    let count = late().server_count().await.expect("server count");
    assert_eq!(count, 2, "a counts b in /late as soon as b is ready");
    clients.connect("late", &format!("{}/late", b.url())).await;
    late().emit("hello-late", &1).expect("emit");
    clients.wait_all("hello-late", &["late"]).await;

    // A dynamic namespace: created by its first client, which is connected only once b
    // listens to it, so a broadcast sent right after reaches it.
    clients.connect("dyn", &format!("{}/dyn-1", b.url())).await;
    a.io.of("/dyn-1")
        .expect("/dyn-1 on a")
        .emit("hello-dyn", &1)
        .expect("emit");
    clients.wait_all("hello-dyn", &["dyn"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_classic() {
    ready_then_publish(RedisMode::Classic, "ready-classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_sharded() {
    let mode = RedisMode::Sharded(SubscriptionMode::Dynamic);
    ready_then_publish(mode, "ready-sharded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_streams() {
    ready_then_publish(RedisMode::Streams, "ready-streams").await;
}

/// Streams mode: the node reads the stream from a position fixed before `connect` returned, so a
/// broadcast added once it is ready is read however late its first `XREAD` reaches Redis. Only
/// the stream reader's connection is slow here: the adapter opens its connections in the order
/// commands, subscriber, stream reader (src/adapter/redis/driver.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_streams_reader() {
    let server = RedisServer::shared();
    let key = "ready-reader";
    let clients = Clients::start().await;
    let a = RustNode::start("a", config(server.url(), RedisMode::Streams, key)).await;
    let reader_only = |n| if n == 2 { DELAY } else { Duration::ZERO };
    let proxy = SlowProxy::start_with(server.port, reader_only).await;
    let b = RustNode::start("b", config(proxy.url(), RedisMode::Streams, key)).await;
    b.io.ready().await.expect("b is ready");
    clients.connect("root", &b.url()).await;
    a.io.emit("hello-root", &1).expect("emit");
    clients.wait_all("hello-root", &["root"]).await;
}
