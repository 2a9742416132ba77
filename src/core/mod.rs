//! The types every layer above the codec shares, and nothing else: room names and broadcast
//! options, connection state recovery's options, the typed errors, and the lock helpers.
//!
//! `core` sits between the codec and the adapters (`engine` → `parser` → `core` → `adapter` →
//! `namespace`/`socket` → `io` → `layer`) and imports nothing above it, so an adapter can be
//! written, and its messages decoded, without knowing what a socket or a namespace is.

pub(crate) mod ack;
mod broadcast;
pub(crate) mod delivery;
pub(crate) mod error;
pub(crate) mod observe;
pub(crate) mod recovery;
pub(crate) mod sync;
pub(crate) mod time;

pub use broadcast::{BroadcastOptions, IntoRooms, Room};
pub use delivery::SocketInfo;
pub use recovery::ConnectionStateRecovery;
