//! Observation points of the server, for instrumentation: the Admin UI (`admin-ui` feature)
//! and whatever else needs to watch a running server (a metrics recorder can implement the same
//! three traits).
//!
//! Each layer owns its points and knows nothing above it:
//! - the engine ([`EngineObserver`]): sessions opened, upgraded, closed; messages in and out;
//! - the adapter ([`AdapterObserver`]): room joins and leaves, events handed to local sockets;
//! - sockets ([`SocketObserver`], here): connections, disconnections with their reason, events
//!   received and emitted, data changes, transport upgrades.
//!
//! [`Hooks`] holds one slot per layer, shared with every namespace, adapter handle and engine
//! the server creates. Until an observer is installed every point is one check of an empty
//! `OnceLock`; installing one fills the three slots at once, and it stays for the server's
//! life.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

use crate::core::observe::{AdapterObserver, AdapterObserverSlot};
use crate::engine::observe::{EngineObserver, ObserverSlot};
use crate::parser::EncodedArgs;
use crate::socket::{DisconnectReason, Socket, SocketRef};

/// What a socket observer hears. Calls are made on the socket's own stack with no lock of the
/// crate held; still, an observer should only count or queue, as these sit on hot paths.
pub(crate) trait SocketObserver: Send + Sync + 'static {
    /// A socket connected: it is in its own room and its connection handler runs next.
    fn socket_connected(&self, socket: &SocketRef);
    /// A socket is leaving for `reason`: it is still in its rooms.
    fn socket_disconnected(&self, socket: &SocketRef, reason: DisconnectReason);
    /// An event arrived from the client (before middlewares and handlers), with its binary
    /// attachments.
    fn event_received(&self, socket: &SocketRef, event: &str, args: &[Value], binary: &[Bytes]);
    /// An event was emitted to this one socket.
    fn event_sent(&self, socket: &SocketRef, event: &str, args: &EncodedArgs);
    /// The socket's data ([`Socket::set_data`]) changed.
    fn data_changed(&self, socket: &Socket);
    /// The socket's connection moved from polling to WebSocket.
    fn transport_upgraded(&self, socket: &SocketRef);
    /// The data this node reports for a socket of its own in fetch answers; an observer may
    /// annotate it (the Admin UI adds what its peers on other nodes need to list the socket).
    fn describe_data(&self, socket: &Socket, data: Value) -> Value {
        let _ = socket;
        data
    }
}

/// Where the socket observer goes once installed; shared by every namespace.
pub(crate) type SocketObserverSlot = Arc<OnceLock<Arc<dyn SocketObserver>>>;

/// The three slots of a server, filled together by [`install`](Self::install).
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) sockets: SocketObserverSlot,
    pub(crate) adapter: AdapterObserverSlot,
    pub(crate) engine: ObserverSlot,
}

/// A server takes one observer; a second is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this server is already instrumented")]
pub struct AlreadyInstrumented;

impl Hooks {
    /// Installs `observer` at every point. Fails when an observer is already there.
    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))] // for instrumentation only
    pub(crate) fn install<O>(&self, observer: Arc<O>) -> Result<(), AlreadyInstrumented>
    where
        O: SocketObserver + AdapterObserver + EngineObserver,
    {
        let sockets: Arc<dyn SocketObserver> = observer.clone();
        self.sockets.set(sockets).map_err(|_| AlreadyInstrumented)?;
        // The first slot decides: once it is set, nobody else fills the other two.
        let adapter: Arc<dyn AdapterObserver> = observer.clone();
        let _ = self.adapter.set(adapter);
        let engine: Arc<dyn EngineObserver> = observer;
        let _ = self.engine.set(engine);
        Ok(())
    }
}
