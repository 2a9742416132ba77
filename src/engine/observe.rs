//! Observation points of the engine, for instrumentation (the Admin UI's aggregated events, a
//! future metrics recorder): sessions opening, upgrading and closing, messages in and out.
//!
//! Nothing is observed until an observer is installed in the engine's [`ObserverSlot`]; until
//! then every point costs one check of an empty `OnceLock` (sessions copy the slot's content
//! when they open, so a send checks a plain `Option`).

use std::sync::{Arc, OnceLock};

use super::error::CloseReason;
use super::query::TransportKind;

/// What an engine observer hears. Calls are made on the connection's own stack, never under a
/// session's lock; an observer must only count or queue, never block or call back into the
/// session.
pub(crate) trait EngineObserver: Send + Sync + 'static {
    /// A session opened on `transport`.
    fn session_opened(&self, transport: TransportKind);
    /// A session moved from polling to WebSocket.
    fn session_upgraded(&self);
    /// A session closed for `reason` while on `transport`.
    fn session_closed(&self, transport: TransportKind, reason: CloseReason);
    /// A message of `bytes` bytes arrived.
    fn message_in(&self, bytes: usize);
    /// `count` messages of `bytes` bytes in all were queued to a client.
    fn messages_out(&self, count: usize, bytes: usize);
}

/// Where the observer of an engine goes once installed; shared with whoever installs it.
pub(crate) type ObserverSlot = Arc<OnceLock<Arc<dyn EngineObserver>>>;
