//! Cross-node latency: one node broadcasts, a client of another node receives, one broadcast
//! at a time, 1 000 times; the median and the 99th percentile, for every engine in one run:
//! PostgreSQL, and Redis in each mode on one server, behind Sentinel and on a Redis Cluster.
//! Every broadcast must arrive, in order.
//!
//! ```sh
//! cargo nextest run --all-features --test cluster -E 'test(cross_node_latency)' --no-capture
//! ```

use std::time::Duration;

use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};

use crate::support::postgres::TestDb;
use crate::support::redis::{RedisServer, RustNode, config, latency_summary, measure_latency};
use crate::support::redis_cluster::RedisCluster;
use crate::support::sentinel::{MASTER_NAME, SentinelSetup};

/// Two Rust nodes on `config` (with its own key and stream), ready; their latency.
async fn over_redis(config: RedisAdapterConfig, key: &str) -> Vec<Duration> {
    let config = config.key(key).stream_name(key);
    let one = RustNode::start("r1", config.clone()).await;
    let two = RustNode::start("r2", config).await;
    one.io.ready().await.expect("ready");
    two.io.ready().await.expect("ready");
    let latencies = measure_latency(&one, &two).await;
    one.stop();
    two.stop();
    latencies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_latency_every_engine() {
    let db = TestDb::create().await;
    let p1 = db.rust_node("p1").await;
    let p2 = db.rust_node("p2").await;
    let mut lines = vec![latency_summary(
        "PostgreSQL",
        measure_latency(&p1, &p2).await,
    )];
    p1.stop();
    p2.stop();

    let server = RedisServer::start();
    let sentinels = SentinelSetup::start();
    let cluster = RedisCluster::shared();
    let modes = [
        ("classic", RedisMode::Classic),
        ("sharded", RedisMode::Sharded(SubscriptionMode::Dynamic)),
        ("streams", RedisMode::Streams),
    ];
    for (name, mode) in modes {
        let timeout = Duration::from_secs(3);
        let topologies = [
            ("Redis", config(&server, mode)),
            (
                "Redis Sentinel",
                RedisAdapterConfig::sentinel(sentinels.sentinel_urls(), MASTER_NAME),
            ),
            ("Redis Cluster", RedisAdapterConfig::cluster(cluster.urls())),
        ];
        for (topology, config) in topologies {
            let config = config.mode(mode).requests_timeout(timeout);
            let key = format!("latency-{topology}-{name}").replace(' ', "-");
            let latencies = over_redis(config, &key).await;
            lines.push(latency_summary(&format!("{topology} ({name})"), latencies));
        }
    }
    for line in lines {
        println!("{line}");
    }
}
