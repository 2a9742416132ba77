//! The Redis adapter on a real Redis Cluster (three masters, `tests/support/redis_cluster.rs`),
//! with Rust nodes and Node.js nodes (`@socket.io/redis-adapter` 8.3 on node-redis's
//! `createCluster`): the cluster-wide scenario of the mixed tests, each node's broadcasts in
//! order, and a master killed (SIGKILL) while broadcasts are in flight.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use serde_json::json;
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use tower_socketio::emitter::Emitter;

use crate::support::redis::{Clients, Cluster, JsNode, Node, RustNode, Target};
use crate::support::redis_cluster::RedisCluster;

/// A Rust node's configuration on `cluster`.
fn config(cluster: &RedisCluster, mode: RedisMode, key: &str) -> RedisAdapterConfig {
    RedisAdapterConfig::cluster(cluster.urls())
        .mode(mode)
        .key(key)
        .stream_name(key)
        .requests_timeout(Duration::from_secs(3))
}

const SHARDED: RedisMode = RedisMode::Sharded(SubscriptionMode::Dynamic);

/// Node's name for a mode: its `SHARDED` and `STREAMS` options.
fn js_mode(mode: RedisMode) -> (Option<&'static str>, bool) {
    match mode {
        RedisMode::Classic => (None, false),
        RedisMode::Sharded(_) => (Some("dynamic"), false),
        RedisMode::Streams => (None, true),
    }
}

/// `[r1, n1, r2]` on `cluster`.
async fn mixed_nodes(cluster: &RedisCluster, mode: RedisMode, key: &str) -> Vec<Node> {
    let (sharded, streams) = js_mode(mode);
    vec![
        Node::Rust(RustNode::start("r1", config(cluster, mode, key)).await),
        Node::Js(JsNode::start_on_cluster("n1", &cluster.urls(), key, sharded, streams).await),
        Node::Rust(RustNode::start("r2", config(cluster, mode, key)).await),
    ]
}

/// Every cluster operation from every node of `[r1, n1, r2]`.
async fn mixed(mode: RedisMode, key: &str) {
    let cluster = RedisCluster::shared_masters();
    let mut nodes = Cluster::start(mixed_nodes(cluster, mode, key).await).await;
    for from in 0..nodes.nodes.len() {
        nodes.run_from(from).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_mixed_classic() {
    mixed(RedisMode::Classic, "rc-mixed-classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_mixed_sharded() {
    mixed(SHARDED, "rc-mixed-sharded").await;
}

/// The `seq` numbers `client` received, in the order it received them.
fn seqs(nodes: &Cluster, ev: &str, client: &str) -> Vec<u64> {
    nodes
        .clients
        .received(ev)
        .into_iter()
        .filter(|r| r.client == client)
        .filter_map(|r| r.args[0].as_u64())
        .collect()
}

/// What `[c-r1, c-n1, c-r2]` (groups g0, g1, g0) get of broadcast `i` of the order tests:
/// every third to everyone, every third to g0, every third to g1, so that they travel on the
/// namespace's channel and on two rooms' channels.
fn target_of(i: u64) -> Target {
    match i % 3 {
        0 => Target::all(),
        1 => Target::to(&["g0"]),
        _ => Target::to(&["g1"]),
    }
}

fn wanted(i: u64, group: u64) -> bool {
    i.is_multiple_of(3) || i % 3 == 1 + group
}

/// 500 broadcasts from r1, on the namespace's channel and two rooms' channels, arrive in the
/// order r1 sent them at the clients of the other nodes, Rust and Node. In the sharded mode each
/// channel lives on the master of its slot, so the order holds per channel (as with Node): the
/// broadcasts to everyone in order, those to the room in order.
async fn order(mode: RedisMode, key: &str) {
    const COUNT: u64 = 500;
    let cluster = RedisCluster::shared_masters();
    let nodes = Cluster::start(mixed_nodes(cluster, mode, key).await).await;
    if let RedisMode::Sharded(_) = mode {
        // The rooms' own channels are subscribed a moment after the joins (as in Node): g0 by
        // r1 and r2, g1 by n1.
        for (room, subscribers) in [("g0", 2), ("g1", 1)] {
            let channel = format!("{key}#/#{room}#");
            cluster.wait_shard_subscribers(&channel, subscribers).await;
        }
    }
    for i in 0..COUNT {
        nodes.nodes[0]
            .emit(&target_of(i), "seq", vec![json!(i)])
            .await;
    }
    for (client, group) in [("c-n1", 1), ("c-r2", 0)] {
        let want: Vec<u64> = (0..COUNT).filter(|&i| wanted(i, group)).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while seqs(&nodes, "seq", client).len() < want.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = seqs(&nodes, "seq", client);
        if let RedisMode::Sharded(_) = mode {
            let on_channel = |list: &[u64], everyone: bool| -> Vec<u64> {
                let list = list.iter().copied();
                list.filter(|i| i.is_multiple_of(3) == everyone).collect()
            };
            for everyone in [true, false] {
                assert_eq!(
                    on_channel(&got, everyone),
                    on_channel(&want, everyone),
                    "{client} got r1's broadcasts on one channel in r1's order"
                );
            }
        } else {
            assert_eq!(got, want, "{client} got r1's broadcasts in r1's order");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_order_classic() {
    order(RedisMode::Classic, "rc-order-classic").await;
}

/// Kills (SIGKILL) a master that holds a subscriber of the nodes while r1 broadcasts; no
/// operation hangs, r1's broadcasts keep their order, and once a replica took over, broadcasts
/// from each node reach the others' clients again and the Rust nodes count every node. With
/// `node`, a Node node (node-redis `createCluster`) is in the cluster too, as a bystander: what
/// happens to it is only reported, since node-redis 4.7 keeps reconnecting to the dead
/// master's address when that master held its Pub/Sub connection (or, in streams mode, the
/// stream), and the Node node then stays deaf (and uncounted); our nodes must not mind.
async fn failover(mode: RedisMode, key: &str, node: bool) {
    let cluster = RedisCluster::start();
    let mut list = vec![
        Node::Rust(RustNode::start("r1", config(&cluster, mode, key)).await),
        Node::Rust(RustNode::start("r2", config(&cluster, mode, key)).await),
    ];
    if node {
        let (sharded, streams) = js_mode(mode);
        list.push(Node::Js(
            JsNode::start_on_cluster("n1", &cluster.urls(), key, sharded, streams).await,
        ));
    }
    let count = list.len();
    for rust in &list[..2] {
        rust.wait_server_count(count).await;
    }
    let mut nodes = Cluster {
        nodes: list,
        clients: Clients::start().await,
        sids: Default::default(),
    };
    for i in 0..count {
        nodes.connect(i).await;
    }
    let listeners = ["c-r2"];
    let victim = subscriber_master(&cluster, mode, key);
    let stop = Instant::now() + Duration::from_secs(30);
    let mut i = 0u64;
    let killed_at = 100;
    let mut killed = None;
    // Broadcasts in flight across the kill and the failover, every 10 ms, until the other
    // nodes' clients hear them again (bounded).
    loop {
        let started = Instant::now();
        nodes.nodes[0]
            .emit(&Target::all(), "tick", vec![json!(i)])
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "an emit took {:?}",
            started.elapsed()
        );
        if i == killed_at {
            cluster.kill(victim);
            killed = Some(i);
        }
        i += 1;
        let heard_again = |client: &str| {
            let got = seqs(&nodes, "tick", client);
            killed.is_some_and(|k| got.last().is_some_and(|&last| last > k + 50))
        };
        if listeners.iter().all(|c| heard_again(c)) {
            break;
        }
        assert!(
            Instant::now() < stop,
            "not every client heard r1 again: {:?}",
            listeners
                .iter()
                .map(|c| (c, seqs(&nodes, "tick", c).last().copied()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for client in &listeners {
        let got = seqs(&nodes, "tick", client);
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "{client} got r1's broadcasts in order across the failover: {got:?}"
        );
    }
    if node {
        let last = seqs(&nodes, "tick", "c-n1").last().copied();
        eprintln!("after the failover, Node's client last heard r1's tick {last:?} of {i}");
    }
    // From r2 too, and the requests.
    for (from, ev) in [(1, "back-r2")] {
        let stop = Instant::now() + Duration::from_secs(20);
        while !["c-r1", "c-r2"]
            .iter()
            .all(|c| nodes.clients.receivers(ev).contains(*c))
        {
            assert!(Instant::now() < stop, "{ev} never reached c-r1 and c-r2");
            nodes.nodes[from]
                .emit(&Target::all(), ev, vec![json!(1)])
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for rust in nodes.nodes[..2].iter().filter_map(Node::rust) {
        // Every node, or every node but a deaf Node node.
        let stop = Instant::now() + Duration::from_secs(20);
        loop {
            let servers = rust.io.server_count().await.unwrap_or(0);
            if servers == count || (node && servers == count - 1) {
                break;
            }
            assert!(
                Instant::now() < stop,
                "{} counts {servers} servers",
                rust.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        cluster.wait_ok(Duration::from_secs(20)),
        "the cluster recovered: {}",
        cluster.describe()
    );
    // The killed master comes back (as a replica of its successor); nothing changes for us.
    cluster.restart(victim);
    assert!(
        cluster.wait_ok(Duration::from_secs(20)),
        "the old master rejoined: {}",
        cluster.describe()
    );
    nodes.nodes[0]
        .emit(&Target::all(), "rejoined", vec![json!(1)])
        .await;
    nodes.clients.wait_all("rejoined", &["c-r1", "c-r2"]).await;
    if node {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let heard = nodes.clients.receivers("rejoined").contains("c-n1");
        eprintln!("once the old master rejoined, Node's client heard r1: {heard}");
    }
}

/// A master to kill: in the classic mode one that holds a pattern subscriber (a node's
/// subscriber), in the sharded mode the master of the namespace's shard channel.
fn subscriber_master(cluster: &RedisCluster, mode: RedisMode, key: &str) -> u16 {
    match mode {
        RedisMode::Sharded(_) => cluster.master_of(&format!("{key}#/#")),
        RedisMode::Streams => cluster.master_of(key),
        RedisMode::Classic => cluster
            .masters()
            .into_iter()
            .find(|&port| {
                crate::support::redis::command(port, &["PUBSUB", "NUMPAT"])
                    .is_ok_and(|r| r.trim() != ":0")
            })
            .expect("a master with a pattern subscriber"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_failover_classic() {
    failover(RedisMode::Classic, "rc-fail-classic", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_order_sharded() {
    order(SHARDED, "rc-order-sharded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_failover_sharded() {
    // Without a Node node: node-redis resubscribes all of a connection's shard channels in one
    // `SSUBSCRIBE` after a failover, which Redis refuses with `CROSSSLOT` (issue 17).
    failover(SHARDED, "rc-fail-sharded", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_mixed_streams() {
    mixed(RedisMode::Streams, "rc-mixed-streams").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_order_streams() {
    order(RedisMode::Streams, "rc-order-streams").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_failover_streams() {
    failover(RedisMode::Streams, "rc-fail-streams", true).await;
}

/// Our emitter, given the nodes' cluster configuration, reaches the clients of Rust and Node
/// nodes: everyone, one room, and a room with an exception.
async fn emitter(mode: RedisMode, key: &str) {
    let cluster = RedisCluster::shared_masters();
    let nodes = Cluster::start(mixed_nodes(cluster, mode, key).await).await;
    let emitter = Emitter::redis(config(cluster, mode, key))
        .await
        .expect("an emitter on the cluster");
    if let RedisMode::Sharded(_) = mode {
        // Room g0's own channel, subscribed a moment after r1's and r2's sockets joined.
        cluster
            .wait_shard_subscribers(&format!("{key}#/#g0#"), 2)
            .await;
    }
    let everyone = ["c-r1", "c-n1", "c-r2"];
    emitter.emit("e-all", &json!(1)).await.expect("emit");
    nodes.clients.wait_all("e-all", &everyone).await;
    emitter
        .to("g0")
        .emit("e-g0", &json!(2))
        .await
        .expect("emit");
    emitter
        .except("room-c-r1")
        .emit("e-except", &json!(3))
        .await
        .expect("emit");
    // A barrier after both: once everyone has it, what the others were going to get is there.
    emitter.emit("e-barrier", &json!(4)).await.expect("emit");
    nodes.clients.wait_all("e-barrier", &everyone).await;
    nodes.clients.wait_all("e-g0", &["c-r1", "c-r2"]).await;
    nodes.clients.wait_all("e-except", &["c-n1", "c-r2"]).await;
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    assert_eq!(nodes.clients.receivers("e-g0"), names(&["c-r1", "c-r2"]));
    assert_eq!(
        nodes.clients.receivers("e-except"),
        names(&["c-n1", "c-r2"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_emitter_classic() {
    emitter(RedisMode::Classic, "rc-emit-classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_emitter_sharded() {
    emitter(SHARDED, "rc-emit-sharded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_emitter_streams() {
    emitter(RedisMode::Streams, "rc-emit-streams").await;
}

/// The slot of the namespace's shard channel moves to another master (resharding) while r1
/// broadcasts: both nodes subscribe again on the new owner, r1's publishes follow `MOVED`, and
/// broadcasts flow both ways again and both nodes count each other (`SHARDNUMSUB` there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cluster_resharding_sharded() {
    let key = "rc-reshard";
    let cluster = RedisCluster::start_with(0);
    let nodes = vec![
        Node::Rust(RustNode::start("r1", config(&cluster, SHARDED, key)).await),
        Node::Rust(RustNode::start("r2", config(&cluster, SHARDED, key)).await),
    ];
    let nodes = Cluster::start(nodes).await;
    let channel = format!("{key}#/#");
    let before = cluster.master_of(&channel);
    let after = cluster.move_slot(&channel);
    assert_ne!(before, after);
    let stop = Instant::now() + Duration::from_secs(20);
    for i in 0u64.. {
        nodes.nodes[0]
            .emit(&Target::all(), "moved", vec![json!(i)])
            .await;
        nodes.nodes[1]
            .emit(&Target::all(), "moved-back", vec![json!(i)])
            .await;
        if !seqs(&nodes, "moved", "c-r2").is_empty()
            && !seqs(&nodes, "moved-back", "c-r1").is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < stop,
            "no broadcast crossed after the slot moved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &nodes.nodes {
        node.wait_server_count(2).await;
    }
    let subscribers = crate::support::redis::command(after, &["PUBSUB", "SHARDNUMSUB", &channel])
        .expect("SHARDNUMSUB");
    assert!(
        subscribers.contains(":2"),
        "both subscribed on the new owner: {subscribers}"
    );
}
