//! Redis Sentinel (`RedisAdapterConfig::sentinel`): a master, a replica and three sentinels
//! from `redis-server` (`support::sentinel`), two Rust nodes and a Node node
//! (`@socket.io/redis-adapter` or `@socket.io/redis-streams-adapter` on ioredis clients, which
//! follow the master through the same sentinels); the master is killed (SIGKILL) while a node
//! broadcasts, Sentinel promotes the replica, and broadcasts between all the nodes resume, in
//! every mode, without anything hanging: the emits in flight return at once, the requests in
//! flight within their timeout, and the nodes count each other again (their subscriptions
//! moved to the new master).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tower_socketio::adapter::redis::{
    RedisAdapter, RedisAdapterConfig, RedisAdapterError, RedisMode, SubscriptionMode,
};
use tower_socketio::emitter::Emitter;

use crate::support::redis::{Cluster, JsNode, Node, RustNode, Target};
use crate::support::sentinel::{MASTER_NAME, SentinelSetup};

/// A Rust node's configuration on the setup's sentinels.
fn config(setup: &SentinelSetup, mode: RedisMode) -> RedisAdapterConfig {
    RedisAdapterConfig::sentinel(setup.sentinel_urls(), MASTER_NAME)
        .mode(mode)
        .requests_timeout(Duration::from_secs(3))
}

/// Broadcasts `ev-<n>` from each node to everyone until every client got one round (a new
/// round every 300 ms); how long it took.
async fn until_delivered(cluster: &Cluster, ev: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let everyone: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("c-{}", n.name()))
        .collect();
    for round in 0u64.. {
        for (i, node) in cluster.nodes.iter().enumerate() {
            node.emit(
                &Target::all(),
                &format!("{ev}-{i}-{round}"),
                vec![json!(round)],
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let all = (0..cluster.nodes.len()).all(|i| {
            let got = cluster.clients.receivers(&format!("{ev}-{i}-{round}"));
            everyone.iter().all(|c| got.contains(c))
        });
        if all {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{ev}: broadcasts between the nodes did not resume within {within:?}"
        );
    }
    unreachable!()
}

/// After a failover, every broadcast of a burst reaches every client, in order.
async fn burst_is_whole(cluster: &Cluster, ev: &str) {
    const COUNT: u64 = 50;
    for (i, node) in cluster.nodes.iter().enumerate() {
        let name = format!("{ev}-{i}");
        for n in 0..COUNT {
            node.emit(&Target::all(), &name, vec![json!(n)]).await;
        }
        let last = format!("{name}-end");
        node.emit(&Target::all(), &last, vec![]).await;
        let everyone: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("c-{}", n.name()))
            .collect();
        let refs: Vec<&str> = everyone.iter().map(String::as_str).collect();
        cluster.clients.wait_all(&last, &refs).await;
        for client in &everyone {
            let got: Vec<u64> = cluster
                .clients
                .received(&name)
                .into_iter()
                .filter(|r| r.client == *client)
                .filter_map(|r| r.args[0].as_u64())
                .collect();
            assert_eq!(got, (0..COUNT).collect::<Vec<_>>(), "{name} at {client}");
        }
    }
}

/// Kills the master while node 0 broadcasts (one emit every 5 ms) and asks for the server
/// count; checks that neither hangs, waits for the failover, and that broadcasts resume both
/// ways and the nodes count each other again.
async fn failover_scenario(setup: &mut SentinelSetup, cluster: &Cluster) {
    let n = cluster.nodes.len();
    until_delivered(cluster, "before", Duration::from_secs(10)).await;

    let Node::Rust(r1) = &cluster.nodes[0] else {
        panic!("node 0 is a Rust node")
    };
    let io = r1.io.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let emitted = Arc::new(AtomicU64::new(0));
    let (stop2, emitted2) = (stop.clone(), emitted.clone());
    // Emits never wait for Redis: each call returns at once, whatever Redis does.
    let in_flight = tokio::spawn(async move {
        let mut slowest = Duration::ZERO;
        while !stop2.load(Ordering::Relaxed) {
            let started = Instant::now();
            let _ = io.emit("flight", &emitted2.load(Ordering::Relaxed));
            slowest = slowest.max(started.elapsed());
            emitted2.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        slowest
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let old = setup.kill_master();
    // A request in flight when the master dies ends within its timeout (3 s), answer or error.
    let started = Instant::now();
    let count = tokio::time::timeout(Duration::from_secs(10), r1.io.server_count()).await;
    assert!(count.is_ok(), "server_count hung after the master died");
    assert!(started.elapsed() < Duration::from_secs(8));

    let failover = setup.wait_failover(old, Duration::from_secs(30));
    let resumed = until_delivered(cluster, "after", Duration::from_secs(30)).await;
    stop.store(true, Ordering::Relaxed);
    let slowest = in_flight.await.expect("emitting task");
    assert!(
        slowest < Duration::from_millis(200),
        "an emit took {slowest:?} during the failover"
    );
    assert!(
        emitted.load(Ordering::Relaxed) > 100,
        "the emitting task stalled"
    );
    for node in &cluster.nodes {
        node.wait_server_count(n).await;
    }
    burst_is_whole(cluster, "burst").await;
    // The old master comes back and Sentinel makes it a replica of the new one, which
    // forwards it every message: a connection still on it would deliver them twice.
    setup.restart(old);
    burst_is_whole(cluster, "burst-after-restart").await;
    println!(
        "failover: sentinels named the new master {failover:?} after the kill; broadcasts \
         resumed {resumed:?} after that"
    );
}

async fn rust_nodes(setup: &SentinelSetup, mode: RedisMode) -> Vec<Node> {
    vec![
        Node::Rust(RustNode::start("r1", config(setup, mode)).await),
        Node::Rust(RustNode::start("r2", config(setup, mode)).await),
    ]
}

/// A Node node on ioredis clients that find the master through the setup's sentinels
/// (`tests/js/redis-node.mjs` with `SENTINELS`), in the mode `extra` says.
async fn js_node(setup: &SentinelSetup, mode: &[(&'static str, &str)]) -> Node {
    let mut env = vec![
        ("SENTINELS", setup.sentinel_list()),
        ("SENTINEL_NAME", MASTER_NAME.to_string()),
    ];
    env.extend(mode.iter().map(|(k, v)| (*k, v.to_string())));
    Node::Js(JsNode::start_env("n1", "", "socket.io", env).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_classic() {
    let mut setup = SentinelSetup::start();
    let mut nodes = rust_nodes(&setup, RedisMode::Classic).await;
    nodes.push(js_node(&setup, &[]).await);
    let cluster = Cluster::start(nodes).await;
    failover_scenario(&mut setup, &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_sharded() {
    let mut setup = SentinelSetup::start();
    let mode = RedisMode::Sharded(SubscriptionMode::Dynamic);
    let mut nodes = rust_nodes(&setup, mode).await;
    nodes.push(js_node(&setup, &[("SHARDED", "dynamic")]).await);
    let cluster = Cluster::start(nodes).await;
    failover_scenario(&mut setup, &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_streams() {
    let mut setup = SentinelSetup::start();
    let mut nodes = rust_nodes(&setup, RedisMode::Streams).await;
    nodes.push(js_node(&setup, &[("STREAMS", "1")]).await);
    let cluster = Cluster::start(nodes).await;
    failover_scenario(&mut setup, &cluster).await;
}

/// The emitter follows the master too: after the failover its emits reach the nodes' clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_emitter_follows_the_master() {
    let setup = SentinelSetup::start();
    let cluster = Cluster::start(rust_nodes(&setup, RedisMode::Classic).await).await;
    let emitter = Emitter::redis(config(&setup, RedisMode::Classic))
        .await
        .expect("emitter");
    emitter.emit("before", &1).await.expect("emit");
    cluster.clients.wait_all("before", &["c-r1", "c-r2"]).await;

    let old = setup.kill_master();
    let started = Instant::now();
    let failed = emitter.emit("lost", &2).await;
    assert!(started.elapsed() < Duration::from_secs(15), "an emit hung");
    assert!(failed.is_err(), "an emit to a dead master succeeded");
    setup.wait_failover(old, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    for round in 0u64.. {
        let attempt = Instant::now();
        let _ = emitter.emit("after", &round).await;
        assert!(attempt.elapsed() < Duration::from_secs(15), "an emit hung");
        tokio::time::sleep(Duration::from_millis(200)).await;
        if ["c-r1", "c-r2"]
            .iter()
            .all(|c| cluster.clients.receivers("after").contains(*c))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the emitter's events never came back"
        );
    }
}

/// No sentinel to ask, or a name the sentinels do not know: `connect` fails, typed and soon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_errors_are_typed() {
    let started = Instant::now();
    let none = RedisAdapterConfig::sentinel(["redis://127.0.0.1:1"], MASTER_NAME);
    let err = RedisAdapter::connect(none).await.err();
    assert!(
        matches!(err, Some(RedisAdapterError::Connect(_))),
        "{err:?}"
    );
    let setup = SentinelSetup::start();
    let unknown = RedisAdapterConfig::sentinel(setup.sentinel_urls(), "no-such-master");
    let err = RedisAdapter::connect(unknown).await.err();
    assert!(
        matches!(err, Some(RedisAdapterError::Connect(_))),
        "{err:?}"
    );
    let err = Emitter::redis(RedisAdapterConfig::sentinel(
        Vec::<String>::new(),
        MASTER_NAME,
    ))
    .await
    .err();
    assert!(
        matches!(err, Some(RedisAdapterError::InvalidUrl(_))),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
