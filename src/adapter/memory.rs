//! The default adapter: one node, rooms and connection state recovery in memory.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{
    Adapter, AdapterFuture, BroadcastOptions, BroadcastPacket, LocalAdapter, NamespaceHandle,
    RecoverySession, RestoredSession, Room, SessionStore, SocketInfo,
};
use crate::core::ack::BroadcastAckFuture;
use crate::core::error::AdapterError;
use crate::engine::Sid;

/// The in-memory adapter: everything is on this node, so every operation completes at once.
///
/// With connection state recovery on, it [persists sessions](Adapter::persists_sessions) in a
/// [`SessionStore`]: a client recovers on this node while the node lives (a crash or a restart
/// loses the sessions; the Redis Streams adapter keeps them in Redis).
///
/// ```
/// use tower_socketio::SocketIo;
///
/// // The default; spelled out:
/// let io = SocketIo::builder().adapter(tower_socketio::adapter::MemoryAdapter::builder()).build();
/// # let _ = io;
/// ```
#[derive(Debug)]
pub struct MemoryAdapter {
    local: LocalAdapter,
    /// Present when connection state recovery is on.
    sessions: Option<SessionStore>,
}

impl MemoryAdapter {
    /// An adapter for one namespace.
    pub fn new(ns: NamespaceHandle) -> Self {
        MemoryAdapter {
            sessions: ns.recovery().map(SessionStore::new),
            local: LocalAdapter::new(ns),
        }
    }

    /// The builder to hand to [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter).
    pub fn builder() -> impl Fn(NamespaceHandle) -> Arc<dyn Adapter> + Send + Sync + 'static {
        |ns| Arc::new(MemoryAdapter::new(ns)) as Arc<dyn Adapter>
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> AdapterFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Adapter for MemoryAdapter {
    fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        match &self.sessions {
            Some(sessions) => sessions.add_all(&self.local, sid, rooms),
            None => self.local.add_all(sid, rooms),
        }
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.local.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        match &self.sessions {
            Some(sessions) => sessions.del_all(&self.local, sid),
            None => self.local.del_all(sid),
        }
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.local.socket_rooms(sid)
    }

    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        match &self.sessions {
            Some(sessions) => sessions.broadcast(&self.local, &packet, &opts),
            None => self.local.broadcast(&packet, &opts),
        }
        Ok(())
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'_, BroadcastAckFuture> {
        ready(self.local.broadcast_with_ack(&packet, &opts, timeout))
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<SocketInfo>> {
        ready(self.local.fetch_sockets(&opts))
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.local.add_sockets(&opts, &rooms);
        Ok(())
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.local.del_sockets(&opts, &rooms);
        Ok(())
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        self.local.disconnect_sockets(&opts, close);
        Ok(())
    }

    fn server_side_emit(&self, _event: String, _args: Vec<Value>) -> Result<(), AdapterError> {
        // No other node to hear it.
        Ok(())
    }

    fn server_side_emit_with_ack(
        &self,
        _event: String,
        _args: Vec<Value>,
        _timeout: Duration,
    ) -> AdapterFuture<'_, Vec<Value>> {
        ready(Vec::new())
    }

    fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>> {
        ready(self.local.rooms())
    }

    fn server_count(&self) -> AdapterFuture<'_, usize> {
        ready(1)
    }

    fn persists_sessions(&self) -> bool {
        self.sessions.is_some()
    }

    fn persist_session(
        &self,
        session: RecoverySession,
        _ttl: Duration,
    ) -> Result<(), AdapterError> {
        if let Some(sessions) = &self.sessions {
            sessions.persist(session);
        }
        Ok(())
    }

    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> AdapterFuture<'_, Option<RestoredSession>> {
        let sessions = self.sessions.as_ref();
        let restored = sessions.and_then(|s| s.restore(&pid, offset.as_deref()));
        ready(restored)
    }
}
