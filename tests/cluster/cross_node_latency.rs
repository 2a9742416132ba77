//! Cross-node latency: one node broadcasts, a client of another node receives, one broadcast
//! at a time, 1 000 times; the median and the 99th percentile, for every engine in one run
//! (PostgreSQL, Redis in each mode, and Redis behind Sentinel in each mode). Every broadcast
//! must arrive, in order.
//!
//! ```sh
//! cargo nextest run --all-features --test cluster -E 'test(cross_node_latency)' --no-capture
//! ```

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::Target;
use crate::support::postgres::TestDb;
use crate::support::redis::{RedisServer, RustNode, config};
use crate::support::sio::{SioClient, Transport};
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};

use crate::support::sentinel::{MASTER_NAME, SentinelSetup};

const ROUNDS: u64 = 1000;

/// Broadcasts from `from`, one at a time, to a WebSocket client of `to`; the latencies.
async fn measure(from: &RustNode, to: &RustNode) -> Vec<Duration> {
    let target = Target {
        addr: to.addr.to_string(),
    };
    let mut client = SioClient::open(&target, Transport::WebSocket).await;
    client.connect("/", None).await;
    // The client's socket is known to `to` once the CONNECT was answered; warm up both paths.
    for _ in 0..20 {
        from.io.emit("warm", &()).expect("emit");
        client.expect_event("/", "warm").await;
    }
    let mut latencies = Vec::with_capacity(ROUNDS as usize);
    for i in 0..ROUNDS {
        let started = Instant::now();
        from.io.emit("lat", &i).expect("emit");
        let (data, _) = client.expect_event("/", "lat").await;
        latencies.push(started.elapsed());
        assert_eq!(data, json!(["lat", i]), "broadcast {i}");
    }
    latencies
}

fn summary(engine: &str, mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "{engine}: {} broadcasts, median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latencies.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    )
}

/// Two Rust nodes on `config` (with its own key), ready; their latency.
async fn over_redis(config: RedisAdapterConfig, key: &str) -> Vec<Duration> {
    let one = RustNode::start("r1", config.clone().key(key)).await;
    let two = RustNode::start("r2", config.key(key)).await;
    one.io.ready().await.expect("ready");
    two.io.ready().await.expect("ready");
    let latencies = measure(&one, &two).await;
    one.stop();
    two.stop();
    latencies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_latency_every_engine() {
    let db = TestDb::create().await;
    let p1 = db.rust_node("p1").await;
    let p2 = db.rust_node("p2").await;
    let postgres = measure(&p1, &p2).await;
    p1.stop();
    p2.stop();

    let server = RedisServer::start();
    let sentinels = SentinelSetup::start();
    let mut results = vec![("PostgreSQL".to_owned(), postgres)];
    let modes = [
        ("classic", RedisMode::Classic),
        ("sharded", RedisMode::Sharded(SubscriptionMode::Dynamic)),
        ("streams", RedisMode::Streams),
    ];
    for (i, (name, mode)) in modes.into_iter().enumerate() {
        let single = config(&server, mode);
        let key = format!("latency-{i}");
        results.push((format!("Redis ({name})"), over_redis(single, &key).await));
        let sentinel = RedisAdapterConfig::sentinel(sentinels.sentinel_urls(), MASTER_NAME)
            .mode(mode)
            .requests_timeout(Duration::from_secs(3));
        let key = format!("latency-sentinel-{i}");
        results.push((
            format!("Redis Sentinel ({name})"),
            over_redis(sentinel, &key).await,
        ));
    }
    for (name, latencies) in results {
        println!("{}", summary(&name, latencies));
    }
}
