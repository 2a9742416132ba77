//! Observation points of the adapter layer, for instrumentation (the Admin UI, a future metrics
//! recorder): sockets joining and leaving rooms, and events handed to local sockets.
//!
//! [`LocalAdapter`](crate::adapter::LocalAdapter) reports them through its namespace handle, so
//! every adapter built on it (the memory and Redis adapters) is observed, for membership
//! changes made on this node and those other nodes ask for. Until an observer is installed,
//! each point costs one check of an empty `OnceLock`.

use std::sync::{Arc, OnceLock};

use crate::core::Room;
use crate::engine::Sid;
use crate::parser::EncodedArgs;

/// What an adapter observer hears. Calls are made after the adapter released its locks, but
/// its caller may hold its own (a broadcast recorded for recovery is delivered under the log's
/// lock): an observer must only count or queue, never emit or disconnect on the caller's stack.
pub(crate) trait AdapterObserver: Send + Sync + 'static {
    /// Socket `sid` of namespace `ns` joined `room` (it was not in it).
    fn room_joined(&self, ns: &str, room: &Room, sid: Sid);
    /// Socket `sid` of namespace `ns` left `room` (it was in it).
    fn room_left(&self, ns: &str, room: &Room, sid: Sid);
    /// An event was queued to these local sockets of namespace `ns` (by an emit to one socket or
    /// a broadcast, from this node or another).
    fn event_delivered(&self, ns: &str, sids: &[Sid], event: &str, args: &EncodedArgs);
}

/// Where the adapter observer goes once installed; shared by every namespace handle.
pub(crate) type AdapterObserverSlot = Arc<OnceLock<Arc<dyn AdapterObserver>>>;
