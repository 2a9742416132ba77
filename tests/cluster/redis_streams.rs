//! The Redis Streams adapter (`RedisMode::Streams`) against a private `redis-server`: mixed with
//! Node nodes running `socket.io` 4.8 + `@socket.io/redis-streams-adapter` 0.3 (every cluster
//! operation from every node), connection state recovery on another node than the one the client
//! left (Rust→Rust, Rust→Node, Node→Rust, with the real `socket.io-client`), an expired session,
//! and a Redis restart in the middle of a stream of broadcasts.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tower_socketio::adapter::redis::RedisMode;

use crate::support::node;
use crate::support::redis::{
    Clients, JsNode, Node, RedisServer, RustNode, Target, config, run_mixed,
};

/// How long a disconnected session may come back in these tests.
const WINDOW: Duration = Duration::from_millis(1500);

fn streams_config(
    server: &RedisServer,
    key: &str,
) -> tower_socketio::adapter::redis::RedisAdapterConfig {
    config(server, RedisMode::Streams).key(key).stream_name(key)
}

async fn rust_node(server: &RedisServer, name: &str, key: &str, recovery: bool) -> Node {
    let window = recovery.then_some(WINDOW);
    Node::Rust(RustNode::start_with(name, streams_config(server, key), window).await)
}

async fn js_node(server: &RedisServer, name: &str, key: &str, recovery: bool) -> Node {
    let window = recovery.then_some(WINDOW);
    Node::Js(JsNode::start_streams(name, &server.url(), key, window).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_cluster_every_operation() {
    let server = RedisServer::shared();
    let key = "streams-mixed";
    // Without recovery: with it, events carry their offset as a last argument.
    let nodes = vec![
        rust_node(server, "r1", key, false).await,
        js_node(server, "n1", key, false).await,
        rust_node(server, "r2", key, false).await,
        js_node(server, "n2", key, false).await,
    ];
    run_mixed(nodes).await;
}

/// Runs tests/js/recovery-cross.mjs: a client on `a` is cut under a stream of room broadcasts
/// and reconnects to `b`.
async fn recover_across(a: &Node, b: &Node, expect_recovered: bool) {
    recover_across_with(a, b, expect_recovered, &[]).await;
}

pub(crate) async fn recover_across_with(
    a: &Node,
    b: &Node,
    expect_recovered: bool,
    extra: &[(&str, &str)],
) {
    node::prepare().await;
    let (url_a, url_b) = (a.url(), b.url());
    let mut env = vec![("URL_A", url_a.as_str()), ("URL_B", url_b.as_str())];
    env.extend_from_slice(extra);
    if !expect_recovered {
        env.push(("EXPECT_RECOVERED", "0"));
        env.push(("GAP_MS", "2500"));
    }
    let run =
        node::run_script_with_env("recovery-cross.mjs", "", Duration::from_secs(60), &env).await;
    let done = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "done");
    println!("{} -> {}:\n{}", a.name(), b.name(), run.stdout);
    let ok = run.status.is_some_and(|s| s.success())
        && done.as_ref().is_some_and(|d| d["ok"] == json!(true));
    assert!(
        ok,
        "{} -> {} (recovered expected: {expect_recovered}):\nstdout:\n{}\nstderr:\n{}",
        a.name(),
        b.name(),
        run.stdout,
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_across_nodes() {
    let server = RedisServer::shared();
    let key = "streams-recovery";
    let r1 = rust_node(server, "r1", key, true).await;
    let r2 = rust_node(server, "r2", key, true).await;
    let n1 = js_node(server, "n1", key, true).await;
    recover_across(&r1, &r2, true).await;
    recover_across(&r1, &n1, true).await;
    recover_across(&n1, &r1, true).await;
    // A long replay under a fast stream: ~1 000 ticks missed during a 1 s gap, and ticks every
    // millisecond while the replay runs, so replay and live delivery overlap (Node's own restore
    // loses ticks in that overlap; ours buffers them and hands over to live delivery).
    // Driven from the node it left (entries reach the new node through the stream reader) and
    // from the node it comes to (through that node's own broadcasts).
    for driver in [r1.url(), r2.url()] {
        let fast = [
            ("EVERY_MS", "1"),
            ("COUNT", "2500"),
            ("GAP_MS", "1000"),
            ("URL_DRIVER", driver.as_str()),
        ];
        recover_across_with(&r1, &r2, true, &fast).await;
    }
    // Past the window, the session is gone: a new connection.
    recover_across(&r2, &r1, false).await;
}

/// Redis stops (as an operator stops it) and starts again in the middle of a stream of
/// broadcasts: the stream carries on from where each node had read, and every broadcast
/// reaches every other node's client once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_no_broadcast() {
    restart_under_load(false).await;
}

/// The same when Redis crashes (SIGKILL): with its append-only file synced on every write, what
/// it answered is kept, and a batch it took without answering is added again and its copies
/// skipped by the readers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crash_loses_no_broadcast() {
    restart_under_load(true).await;
}

async fn restart_under_load(crash: bool) {
    let server = RedisServer::start_persistent();
    let key = "streams-restart";
    let mut nodes = Vec::new();
    for name in ["r1", "r2", "r3"] {
        nodes.push(Node::Rust(
            RustNode::start(name, streams_config(&server, key)).await,
        ));
    }
    let nodes = Arc::new(nodes);
    let clients = Clients::start().await;
    for node in nodes.iter() {
        clients
            .connect(&format!("c-{}", node.name()), &node.url())
            .await;
    }
    for node in nodes.iter() {
        node.wait_server_count(3).await;
    }

    // r1 broadcasts `load` n every 2 ms until told to stop (bounded: 20 s, 5 000 messages).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (nodes, stop, sent) = (nodes.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(20)
                && sent.load(Ordering::Relaxed) < 5_000
            {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                nodes[0].emit(&Target::all(), "load", vec![json!(n)]).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sent.load(Ordering::Relaxed);
    if crash {
        server.kill();
    } else {
        server.stop();
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.start_again();
    // Load goes on for a while after the restart, then stops.
    let deadline = Instant::now() + Duration::from_secs(15);
    while sent.load(Ordering::Relaxed) < before + 600 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task");
    let total = sent.load(Ordering::Relaxed);

    // Every client (the local one included) gets 0..total exactly once, in order.
    for client in ["c-r1", "c-r2", "c-r3"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            let got: Vec<u64> = clients
                .received("load")
                .iter()
                .filter(|r| r.client == client)
                .filter_map(|r| r.args[0].as_u64())
                .collect();
            if got.len() as u64 >= total || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let expected: Vec<u64> = (0..total).collect();
        if got != expected {
            let missing: Vec<_> = expected.iter().filter(|n| !got.contains(n)).collect();
            panic!(
                "{client}: {} of {total} broadcasts; missing {missing:?}; duplicates or disorder: {}",
                got.len(),
                got.windows(2).any(|w| w[1] <= w[0])
            );
        }
    }
    println!("{total} broadcasts across a Redis restart ({before} before it): none lost");
}
