//! Local room bookkeeping; in sharded dynamic mode also the rooms' own channels this node
//! subscribes to and unsubscribes from.

use super::adapter::NsShared;
use super::driver::Subscription;
use super::{RedisMode, SubscriptionMode};
use crate::adapter::{BroadcastOptions, Room};
use crate::core::sync::lock;
use crate::engine::{Burst, Sid};

impl NsShared {
    pub(super) fn room_channel_wanted(&self, room: &str, joining: Sid) -> bool {
        match self.mode() {
            RedisMode::Sharded(SubscriptionMode::DynamicPrivate) => true,
            RedisMode::Sharded(SubscriptionMode::Dynamic) => {
                // A socket's own room is private: broadcasts to it use the main channel.
                room != joining.as_str()
                    && !room
                        .parse::<Sid>()
                        .is_ok_and(|sid| !self.local.socket_rooms(sid).is_empty())
            }
            _ => false,
        }
    }

    /// Streams mode: the stream position a socket joining now starts after: the last entry
    /// delivered to this namespace, or else where the reader was (entries before that were
    /// delivered before this namespace had sockets). Called under `restores`.
    fn start_position(&self) -> Option<String> {
        match *lock(&self.delivered_to) {
            Some((ms, seq)) => Some(format!("{ms}-{seq}")),
            None => self.driver.stream_position(),
        }
    }

    pub(super) fn dynamic_rooms(&self) -> bool {
        matches!(
            self.mode(),
            RedisMode::Sharded(SubscriptionMode::Dynamic | SubscriptionMode::DynamicPrivate)
        )
    }

    pub(super) fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        if self.streams() {
            let rooms_include_own = rooms.iter().any(|room| room.as_ref() == sid.as_str());
            // Opened before the lock, closed after it: the hand-over's packets are queued under
            // the lock and written to the socket once it is released.
            let _burst = Burst::open();
            let mut restores = lock(&self.restores);
            // What was delivered before this join did not reach it: a socket joining its own
            // room (it connects) starts after that.
            let start = (self.ns.recovers() && rooms_include_own).then(|| self.start_position());
            self.local.add_all(sid, rooms);
            if let Some(restore) = restores.get_mut(&sid) {
                self.hand_over(sid, restore);
            }
            drop(restores);
            if let Some(start) = start {
                self.live.joined(sid, || start);
            }
            self.live.rooms_changed(sid);
            return;
        }
        if !self.dynamic_rooms() {
            self.join_local(sid, rooms);
            return;
        }
        let mut subscribed = lock(&self.room_channels);
        let new: Vec<String> = rooms
            .iter()
            .filter(|room| {
                !subscribed.contains(room.as_ref()) && self.room_channel_wanted(room, sid)
            })
            .map(|room| room.to_string())
            .collect();
        self.join_local(sid, rooms);
        if new.is_empty() {
            return;
        }
        let Some(names) = self.names() else { return };
        let subs = new
            .into_iter()
            .map(|room| {
                let sub = Subscription::Shard(format!("{}{room}#", names.channel));
                subscribed.insert(room);
                sub
            })
            .collect();
        self.driver.subscribe(self.id, subs);
    }

    /// After rooms may have emptied: stops listening on the channels of those now gone.
    pub(super) fn forget_rooms<'a>(&self, rooms: impl IntoIterator<Item = &'a str>) {
        let mut subscribed = lock(&self.room_channels);
        let Some(names) = self.names() else { return };
        let subs: Vec<Subscription> = rooms
            .into_iter()
            .filter(|room| !self.local.has_room(room) && subscribed.remove(*room))
            .map(|room| Subscription::Shard(format!("{}{room}#", names.channel)))
            .collect();
        if !subs.is_empty() {
            self.driver.unsubscribe(self.id, subs);
        }
    }

    pub(super) fn del(&self, sid: Sid, room: &Room) {
        self.local.del(sid, room);
        self.live.rooms_changed(sid);
        if self.dynamic_rooms() {
            self.forget_rooms([room.as_ref()]);
        }
    }

    pub(super) fn del_all(&self, sid: Sid) {
        if self.streams() {
            // A socket that leaves (or never got to join) ends its restore, if any.
            lock(&self.restores).remove(&sid);
            let prefix = &self.driver.config().streams.session_key_prefix;
            self.live.gone(sid, prefix);
        }
        if !self.dynamic_rooms() {
            self.leave_local(sid);
            return;
        }
        let rooms = self.local.socket_rooms(sid);
        self.leave_local(sid);
        self.forget_rooms(rooms.iter().map(|r| r.as_ref()));
    }

    pub(super) fn add_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.targets(opts) {
            self.add_all(sid, rooms.to_vec());
        }
    }

    pub(super) fn del_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.targets(opts) {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }
}
