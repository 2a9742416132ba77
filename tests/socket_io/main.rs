//! Test binary `socket_io`: the Socket.IO layer.
//!
//! - `socket_io`: black-box Socket.IO v5 conformance against the conformance server;
//! - `socketio_features`: the whole handler API, driven by the real `socket.io-client`;
//! - `remote_socket`: `fetch_sockets` and acting on the sockets it returns;
//! - `shutdown`: graceful shutdown;
//! - `slow_consumer`, `slow_consumer_isolation`: readers that do not keep up;
//! - `direct_writes`: senders writing straight into idle WebSockets, beside their tasks;
//! - `extractors`: a handler's extractors in any order see the same arguments.
//!
//! Run alone with `scripts/test socket_io`. The support tree is shared by every test binary.

#[path = "../support/mod.rs"]
mod support;

mod direct_writes;
mod extractors;
mod remote_socket;
mod shutdown;
mod slow_consumer;
mod slow_consumer_isolation;
mod socket_io;
mod socketio_features;
