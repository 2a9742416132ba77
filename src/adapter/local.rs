//! Room bookkeeping and delivery to this node's sockets: where a broadcast fans out.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use super::{BroadcastOptions, BroadcastPacket, NamespaceHandle, Room, SocketInfo};
use crate::core::ack::{AckFuture, BroadcastAckFuture, collect_acks};
use crate::core::sync::{read, write};
use crate::engine::{Burst, Sid};

#[derive(Debug, Default)]
struct Rooms {
    /// Room → its members.
    rooms: HashMap<Room, Few<Sid>>,
    /// Socket → its rooms.
    sids: HashMap<Sid, Few<Room>>,
}

/// The rooms of one namespace on this node, and delivery to its sockets. Every adapter uses it
/// for the local half of its work.
///
/// ```
/// use tower_socketio::adapter::{BroadcastOptions, LocalAdapter, NamespaceHandle};
/// # fn f(ns: NamespaceHandle, a: tower_socketio::engine::Sid, b: tower_socketio::engine::Sid) {
/// let local = LocalAdapter::new(ns);
/// local.add_all(a, vec!["red".into()]);
/// local.add_all(b, vec!["blue".into()]);
/// let opts = BroadcastOptions { rooms: vec!["red".into()], ..Default::default() };
/// assert_eq!(local.targets(&opts), vec![a]);
/// # }
/// ```
#[derive(Debug)]
pub struct LocalAdapter {
    ns: NamespaceHandle,
    state: RwLock<Rooms>,
}

impl LocalAdapter {
    /// An empty adapter for this namespace.
    pub fn new(ns: NamespaceHandle) -> Self {
        LocalAdapter {
            ns,
            state: RwLock::new(Rooms::default()),
        }
    }

    /// The namespace this adapter serves.
    pub fn namespace(&self) -> &NamespaceHandle {
        &self.ns
    }

    /// Puts a socket in rooms.
    pub fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        let observer = self.ns.observer();
        let mut joined = Vec::new();
        {
            let mut state = write(&self.state);
            for room in rooms {
                let added = state.rooms.entry(room.clone()).or_default().insert(sid);
                if added && observer.is_some() {
                    joined.push(room.clone());
                }
                state.sids.entry(sid).or_default().insert(room);
            }
        }
        if let Some(observer) = observer {
            for room in &joined {
                observer.room_joined(self.ns.name(), room, sid);
            }
        }
    }

    /// Takes a socket out of a room.
    pub fn del(&self, sid: Sid, room: &Room) {
        let removed = {
            let mut state = write(&self.state);
            if let Some(rooms) = state.sids.get_mut(&sid) {
                rooms.remove(room);
            }
            remove_member(&mut state.rooms, room, sid)
        };
        if let (true, Some(observer)) = (removed, self.ns.observer()) {
            observer.room_left(self.ns.name(), room, sid);
        }
    }

    /// Takes a socket out of every room.
    pub fn del_all(&self, sid: Sid) {
        let left = {
            let mut state = write(&self.state);
            let Some(rooms) = state.sids.remove(&sid) else {
                return;
            };
            for room in rooms.iter() {
                remove_member(&mut state.rooms, room, sid);
            }
            rooms
        };
        if let Some(observer) = self.ns.observer() {
            for room in left.iter() {
                observer.room_left(self.ns.name(), room, sid);
            }
        }
    }

    /// The rooms of a socket.
    pub fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        read(&self.state)
            .sids
            .get(&sid)
            .map(|rooms| rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether a room has at least one member on this node.
    pub fn has_room(&self, room: &str) -> bool {
        read(&self.state).rooms.contains_key(room)
    }

    /// Every room with at least one member.
    pub fn rooms(&self) -> Vec<Room> {
        read(&self.state).rooms.keys().cloned().collect()
    }

    /// The ids of the local sockets an operation targets.
    pub fn targets(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        let state = read(&self.state);
        let excluded = |sid: &Sid| {
            opts.except.iter().any(|room| {
                state
                    .rooms
                    .get(room)
                    .is_some_and(|members| members.contains(sid))
            })
        };
        if opts.rooms.is_empty() {
            return state
                .sids
                .keys()
                .filter(|sid| !excluded(sid))
                .copied()
                .collect();
        }
        let members = opts.rooms.iter().filter_map(|room| state.rooms.get(room));
        if opts.rooms.len() == 1 {
            // One room: its members are already distinct.
            return members
                .flat_map(Few::iter)
                .filter(|sid| !excluded(sid))
                .copied()
                .collect();
        }
        let mut seen = HashSet::new();
        members
            .flat_map(Few::iter)
            .filter(|sid| !excluded(sid) && seen.insert(**sid))
            .copied()
            .collect()
    }

    /// Delivers a packet to the targeted local sockets, sharing its frames.
    ///
    /// The targets are collected under the rooms lock, and the frames queued after it is
    /// released. Queueing never calls out (a full queue closes its session later, from a task
    /// of its own), so a caller may hold its own locks across this.
    pub fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        self.deliver(&self.targets(opts), packet, opts.volatile);
    }

    /// Delivers a packet to these local sockets (those still connected), as
    /// [`broadcast`](Self::broadcast) does to its targets.
    pub(crate) fn deliver(&self, sids: &[Sid], packet: &BroadcastPacket, volatile: bool) {
        // The receivers' queues are written out once all are filled; inside a connection's own
        // burst, when that one ends.
        let burst = Burst::open();
        // A full queue closes that receiver as a slow consumer; the others carry on.
        self.ns.send(sids, packet.frames(), volatile);
        drop(burst);
        self.observe_delivery(sids, packet);
    }

    fn observe_delivery(&self, sids: &[Sid], packet: &BroadcastPacket) {
        if let Some(observer) = self.ns.observer()
            && !sids.is_empty()
        {
            observer.event_delivered(self.ns.name(), sids, &packet.event, &packet.args);
        }
    }

    /// Delivers a packet carrying an ack id and returns every receiver's answer.
    pub fn broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> BroadcastAckFuture {
        collect_acks(self.broadcast_with_ack_each(packet, opts, timeout))
    }

    /// Delivers a packet carrying an ack id and returns one future per receiver, so each
    /// answer can be handled as it comes (a multi-node adapter forwards them one by one).
    pub fn broadcast_with_ack_each(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Vec<AckFuture> {
        let id = packet.id.unwrap_or_default();
        let targets = self.targets(opts);
        let waiting = self
            .ns
            .send_with_ack(&targets, packet.frames(), id, timeout);
        self.observe_delivery(&targets, packet);
        waiting
    }

    /// The targeted local sockets, described for a fetch.
    pub fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.ns
            .describe(&self.targets(opts))
            .into_iter()
            .map(|(id, handshake, data)| SocketInfo {
                id,
                rooms: self.socket_rooms(id),
                handshake,
                data,
            })
            .collect()
    }

    /// Makes the targeted local sockets join rooms.
    pub fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.targets(opts) {
            self.add_all(sid, rooms.to_vec());
        }
    }

    /// Makes the targeted local sockets leave rooms.
    pub fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.targets(opts) {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }

    /// Disconnects the targeted local sockets.
    pub fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        self.ns.disconnect(&self.targets(opts), close);
    }
}

/// Takes `sid` out of `room`'s members; returns whether it was one.
fn remove_member(rooms: &mut HashMap<Room, Few<Sid>>, room: &Room, sid: Sid) -> bool {
    let Some(members) = rooms.get_mut(room) else {
        return false;
    };
    let removed = members.remove(&sid);
    if members.is_empty() {
        rooms.remove(room);
    }
    removed
}

/// A set that holds one element without allocating: every socket is alone in its own room, and
/// many sockets are in that room only, so most sets of either map have one element.
#[derive(Debug)]
enum Few<T> {
    One(T),
    Many(HashSet<T>),
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few::Many(HashSet::new())
    }
}

impl<T: Eq + std::hash::Hash> Few<T> {
    /// Adds `value`; returns whether it was not in the set yet.
    fn insert(&mut self, value: T) -> bool {
        match self {
            Few::Many(set) if set.is_empty() => {
                *self = Few::One(value);
                true
            }
            Few::Many(set) => set.insert(value),
            Few::One(one) if *one == value => false,
            Few::One(_) => {
                let Few::One(one) = std::mem::replace(self, Few::Many(HashSet::with_capacity(2)))
                else {
                    return false;
                };
                if let Few::Many(set) = self {
                    set.insert(one);
                    set.insert(value);
                }
                true
            }
        }
    }

    /// Removes `value`; returns whether it was in the set.
    fn remove(&mut self, value: &T) -> bool {
        match self {
            Few::One(one) if one == value => {
                *self = Few::default();
                true
            }
            Few::One(_) => false,
            Few::Many(set) => set.remove(value),
        }
    }

    fn contains(&self, value: &T) -> bool {
        match self {
            Few::One(one) => one == value,
            Few::Many(set) => set.contains(value),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Few::Many(set) if set.is_empty())
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        let (one, many) = match self {
            Few::One(one) => (Some(one), None),
            Few::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_is_a_set() {
        let mut few = Few::default();
        assert!(few.is_empty());
        assert!(few.insert(1));
        assert!(!few.insert(1));
        assert!(matches!(few, Few::One(1)));
        assert!(few.insert(2));
        assert!(few.insert(3));
        assert!(!few.insert(2));
        let mut all: Vec<_> = few.iter().copied().collect();
        all.sort();
        assert_eq!(all, [1, 2, 3]);
        assert!(few.contains(&2) && !few.contains(&4));
        assert!(few.remove(&2) && !few.remove(&2));
        assert!(few.remove(&1) && few.remove(&3));
        assert!(few.is_empty());
        assert!(few.insert(5));
        assert!(few.remove(&5));
        assert!(few.is_empty() && few.iter().next().is_none());
    }
}
