//! Test binary `cluster`: the Redis adapter (feature `redis`), with private `redis-server`s,
//! Rust nodes and Node.js nodes (`@socket.io/redis-adapter`).
//!
//! - `adapter_conformance`: every adapter of the crate (memory, the custom adapter of
//!   `examples/custom_adapter.rs`, Redis in each mode) carries the same cluster operations;
//! - `no_sticky`: a cluster without sticky sessions behind a round-robin proxy (feature
//!   `no-sticky`);
//! - `redis_crash`: clients of a node killed with SIGKILL recover on another (Streams);
//! - `redis_faults`: Redis going away, timeouts, bad messages;
//! - `redis_mixed`: Rust and Node nodes in one cluster;
//! - `redis_protocol`: the wire format on the channels;
//! - `redis_ready`: a node serves only once its subscriptions are confirmed;
//! - `redis_recovery`: connection state recovery on the pub/sub modes, per node;
//! - `redis_streams`: the Redis Streams mode and cross-node recovery.
//!
//! Run alone with `scripts/test cluster`. The support tree is shared by every test binary.
#![cfg(feature = "redis")]

#[path = "../support/mod.rs"]
mod support;

mod adapter_conformance;
mod no_sticky;
mod no_sticky_bench;
mod redis_crash;
mod redis_faults;
mod redis_mixed;
mod redis_protocol;
mod redis_ready;
mod redis_recovery;
mod redis_streams;
