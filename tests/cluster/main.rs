//! Test binary `cluster`: the Redis adapter (feature `redis`), with private `redis-server`s,
//! Rust nodes and Node.js nodes (`@socket.io/redis-adapter`).
//!
//! - `cross_node_latency` (feature `postgres`): a broadcast from one node to a client of
//!   another, median and p99, for every engine in one run;
//! - `adapter_metrics`: the adapters' publish and request metrics (feature `metrics`);
//! - `admin_ui`: the Admin UI across a Rust and a Node.js node (feature `admin-ui`), and admin
//!   sessions shared through Redis;
//! - `adapter_conformance`: every adapter of the crate (memory, the custom adapter of
//!   `examples/custom_adapter.rs`, Redis in each mode) carries the same cluster operations;
//! - `no_sticky`: a cluster without sticky sessions behind a round-robin proxy (feature
//!   `no-sticky`);
//! - `redis_crash`: clients of a node killed with SIGKILL recover on another (Streams);
//! - `redis_emitter`: the emitter (ours and Node's `@socket.io/redis-emitter`) reaching Rust
//!   and Node nodes in every Redis format;
//! - `redis_faults`: Redis going away, timeouts, bad messages;
//! - `redis_mixed`: Rust and Node nodes in one cluster;
//! - `redis_on_cluster`: the adapter on a real Redis Cluster (`support::redis_cluster`): Rust
//!   and Node nodes (node-redis `createCluster`) in every mode, each node's broadcasts in order,
//!   a master killed while broadcasts are in flight, and the emitter;
//! - `redis_protocol`: the wire format on the channels;
//! - `redis_ready`: a node serves only once its subscriptions are confirmed;
//! - `redis_recovery`: connection state recovery on the pub/sub modes, per node;
//! - `redis_sentinel`: Redis Sentinel (a master, a replica, three sentinels): the master
//!   killed while nodes broadcast, broadcasts resume after the failover, in every mode;
//! - `redis_streams`: the Redis Streams mode and cross-node recovery;
//! - `postgres_cluster`, `postgres_mixed`, `postgres_faults` (feature `postgres`): the
//!   PostgreSQL adapter between Rust nodes, with Node.js nodes and Node's emitter, and under
//!   killed connections, a restart and junk; `postgres_emitter`: our PostgreSQL emitter
//!   reaching Rust and Node nodes, and under killed connections and a restart; each test on a
//!   fresh database of the machine's
//!   PostgreSQL (127.0.0.1:5432, user `postgres`, trust auth), which it drops at the end.
//!
//! Run alone with `scripts/test cluster`. The support tree is shared by every test binary.
#![cfg(feature = "redis")]

#[path = "../support/mod.rs"]
mod support;

mod adapter_conformance;
mod adapter_metrics;
mod admin_ui;
#[cfg(feature = "postgres")]
mod cross_node_latency;
mod no_sticky;
mod no_sticky_bench;
#[cfg(feature = "postgres")]
mod postgres_cluster;
#[cfg(feature = "postgres")]
mod postgres_emitter;
#[cfg(feature = "postgres")]
mod postgres_faults;
#[cfg(feature = "postgres")]
mod postgres_mixed;
mod redis_crash;
mod redis_emitter;
mod redis_faults;
mod redis_mixed;
mod redis_on_cluster;
mod redis_protocol;
mod redis_ready;
mod redis_recovery;
mod redis_sentinel;
mod redis_streams;
