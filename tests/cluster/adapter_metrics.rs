//! The adapters' metrics (feature `metrics`), read through Prometheus' exporter installed as
//! this test process's recorder: publishes to Redis and PostgreSQL are timed, messages Redis
//! never took are counted as errors, and cluster-wide requests are timed. (nextest runs each
//! test in a process of its own; under `cargo test` the recorder is installed once, and the
//! checks only ask for at least what this test caused.)
#![cfg(feature = "metrics")]

use std::time::Duration;

use tower_socketio::adapter::redis::RedisMode;

use crate::support::prometheus::{eventually, recorder, sample};
use crate::support::redis::{RedisServer, RustNode, config};

/// Waits (up to `within`) until the sample reaches `at_least`.
async fn reaches(name: &str, labels: &str, at_least: f64, within: Duration) {
    let what = format!("{name}{{{labels}}} >= {at_least}");
    eventually(&what, within, |text| sample(text, name, labels) >= at_least).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_publishes_requests_and_failures_are_measured() {
    recorder();
    let server = RedisServer::start();
    let key = "adapter-metrics";
    let a = RustNode::start("a", config(&server, RedisMode::Classic).key(key)).await;
    let b = RustNode::start("b", config(&server, RedisMode::Classic).key(key)).await;
    a.io.ready().await.expect("a ready");
    b.io.ready().await.expect("b ready");

    a.io.emit("hello", &1).expect("broadcast");
    let redis = r#"adapter="redis""#;
    reaches(
        "socketio_adapter_publish_duration_seconds_count",
        redis,
        1.0,
        Duration::from_secs(5),
    )
    .await;
    let count = b.io.server_count().await.expect("server_count");
    assert_eq!(count, 2);
    reaches(
        "socketio_adapter_request_duration_seconds_count",
        r#"request="server_count""#,
        1.0,
        Duration::from_secs(5),
    )
    .await;

    // Redis goes away: the broadcast is retried for two seconds, then counted as dropped.
    server.stop();
    a.io.emit("lost", &2).expect("queued");
    reaches(
        "socketio_adapter_publish_errors_total",
        redis,
        1.0,
        Duration::from_secs(10),
    )
    .await;
    server.start_again();
    a.stop();
    b.stop();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_publishes_are_measured() {
    recorder();
    let db = crate::support::postgres::TestDb::create().await;
    let a = db.rust_node("a").await;
    let b = db.rust_node("b").await;
    a.io.ready().await.expect("a ready");
    b.io.ready().await.expect("b ready");
    a.io.emit("hello", &1).expect("broadcast");
    reaches(
        "socketio_adapter_publish_duration_seconds_count",
        r#"adapter="postgres""#,
        1.0,
        Duration::from_secs(5),
    )
    .await;
    a.stop();
    b.stop();
}
