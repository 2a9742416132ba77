//! Test binary `cluster`: the Redis adapter (feature `redis`), with private `redis-server`s,
//! Rust nodes and Node.js nodes (`@socket.io/redis-adapter`).
//!
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
//! - `redis_streams`: the Redis Streams mode and cross-node recovery;
//! - `postgres_cluster`, `postgres_mixed`, `postgres_faults` (feature `postgres`): the
//!   PostgreSQL adapter between Rust nodes, with Node.js nodes and Node's emitter, and under
//!   killed connections, a restart and junk; each test on a fresh database of the machine's
//!   PostgreSQL (127.0.0.1:5432, user `postgres`, trust auth), which it drops at the end.
//!
//! Run alone with `scripts/test cluster`. The support tree is shared by every test binary.
#![cfg(feature = "redis")]

#[path = "../support/mod.rs"]
mod support;

mod adapter_conformance;
mod adapter_metrics;
mod admin_ui;
mod no_sticky;
mod no_sticky_bench;
#[cfg(feature = "postgres")]
mod postgres_cluster;
#[cfg(feature = "postgres")]
mod postgres_faults;
#[cfg(feature = "postgres")]
mod postgres_latency;
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
mod redis_streams;
