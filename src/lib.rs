#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapter;
#[cfg(feature = "admin-ui")]
pub mod admin;
mod core;
// Beside the adapters: it writes their messages, and knows no socket, namespace or server.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub mod emitter;
pub mod engine;
pub mod extract;
pub mod handler;
pub mod metrics;
pub mod operators;
pub mod parser;

#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals;

mod client;
mod config;
mod io;
mod layer;
mod namespace;
#[cfg(feature = "no-sticky")]
mod node_registry;
mod observe;
mod remote_socket;
mod socket;
mod standalone;

pub use crate::core::ConnectionStateRecovery;
pub use crate::core::ack::{AckFuture, AckResponse, BroadcastAckFuture};
pub use crate::core::error::{AckError, AdapterError, ConnectError, EmitError};
pub use config::SocketIoConfig;
pub use io::{Shutdown, SocketIo, SocketIoBuilder};
pub use layer::{SocketIoLayer, SocketIoService};
pub use namespace::NamespaceBuilder;
pub use observe::AlreadyInstrumented;
pub use parser::placeholder;
pub use remote_socket::RemoteSocket;
pub use socket::{DisconnectReason, Emitter, Handshake, Socket, SocketRef};
