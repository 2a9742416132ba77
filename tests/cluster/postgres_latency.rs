//! Cross-node latency: one node broadcasts, a client of another node receives, one broadcast
//! at a time, 1 000 times; the median and the 99th percentile, over PostgreSQL and, for
//! comparison in the same run, over Redis (classic mode). Every broadcast must arrive, in order.
//!
//! ```sh
//! cargo nextest run --all-features --test cluster -E 'test(cross_node_latency)' --no-capture
//! ```

use crate::support::postgres::TestDb;
use crate::support::redis::{RedisServer, RustNode, config, latency_summary, measure_latency};
use tower_socketio::adapter::redis::RedisMode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_latency_postgres_and_redis() {
    let db = TestDb::create().await;
    let p1 = db.rust_node("p1").await;
    let p2 = db.rust_node("p2").await;
    let postgres = measure_latency(&p1, &p2).await;

    let server = RedisServer::start();
    let r1 = RustNode::start("r1", config(&server, RedisMode::Classic)).await;
    let r2 = RustNode::start("r2", config(&server, RedisMode::Classic)).await;
    r1.io.ready().await.expect("ready");
    r2.io.ready().await.expect("ready");
    let redis = measure_latency(&r1, &r2).await;

    println!("{}", latency_summary("PostgreSQL", postgres));
    println!("{}", latency_summary("Redis (classic)", redis));
}
