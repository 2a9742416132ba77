//! # tower-socketio
//!
//! A Socket.IO v4 server for Rust, shipped as a [tower] middleware layer: put it in front of an
//! axum `Router` (or any tower service served by hyper) and requests under `/socket.io/` are
//! handled by it while everything else passes through untouched.
//!
//! The crate is layered the way the protocol is:
//!
//! - [`engine`]: Engine.IO, the transports (long-polling, WebSocket, the upgrade between them)
//!   and the heartbeat. Usable on its own.
//!
//! [tower]: https://docs.rs/tower
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod engine;
