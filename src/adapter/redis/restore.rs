//! Streams mode: broadcasts into the stream, entries read back from it, and connection state
//! recovery (persisted sessions, replay of missed entries, hand-over to live delivery).

use std::sync::Arc;
use std::time::Duration;

use super::adapter::{NsShared, wire_opts, wire_packet, with_trailing_arg};
use super::channels::Names;
use super::driver::Outgoing;
use super::streams::{self, StreamEntry};
use crate::adapter::cluster::codec::Decoded;
use crate::adapter::cluster::message::{Body, ClusterMessage};
use crate::adapter::{BroadcastOptions, BroadcastPacket, RecoverySession, RestoredSession, Room};
use crate::core::error::AdapterError;
use crate::core::sync::lock;
use crate::engine::{Frame, Sid};

/// A session restored from the stream, from the start of its replay until live delivery has
/// certainly caught up with it.
///
/// The replay (`XRANGE`) and live delivery (the reader, and this node's own broadcasts once
/// Redis gave them an id) overlap: an entry may come through both, or, while the socket has not
/// joined its rooms yet, through neither. So entries delivered during the replay are buffered
/// for the session; when the socket joins its rooms, the buffer is flushed minus what the replay
/// already had; and after that, live entries the replay already had are not delivered to it
/// again.
pub(super) struct Restore {
    pub(super) rooms: Vec<Room>,
    /// The last entry the replay read; `None` while it runs.
    pub(super) replayed_to: Option<(u64, u64)>,
    /// Entries delivered during the replay, for the session's rooms.
    pub(super) buffer: Vec<((u64, u64), Vec<Frame>)>,
    pub(super) joined: bool,
    pub(super) since: std::time::Instant,
}

/// How long a restore may wait for its socket to join (it was abandoned after that), and how
/// long a joined one keeps filtering replayed entries out of live delivery.
pub(super) const RESTORE_HANDOVER: Duration = Duration::from_secs(30);

/// How many entries a restore buffers at most; past that it gives up buffering.
pub(super) const RESTORE_BUFFER_MAX: usize = 100_000;

impl NsShared {
    /// An entry of the stream, if it is for this namespace.
    pub(crate) fn on_stream_entry(self: &Arc<Self>, entry: &StreamEntry) {
        let Some(names) = self.names.get() else {
            return;
        };
        if entry.nsp != names.nsp || lock(&self.copies).is_copy(entry) {
            return;
        }
        if let Some(message) = &entry.message {
            self.on_cluster_message(names, message.clone(), Some(&entry.id));
        }
    }

    /// Delivers a broadcast that came through the stream (or, from this node, went into it) as
    /// entry `offset`, minding the sessions being restored (see [`Restore`]).
    ///
    /// Who gets the entry live is decided under `restores` (a restored socket joins its rooms
    /// under that lock too, so each entry reaches it either through its buffer or live, never
    /// both); the delivery itself happens after the lock is released.
    pub(super) fn deliver_entry(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        offset: Option<&str>,
    ) {
        let Some(id) = offset.and_then(streams::parse_id) else {
            return self.deliver_local(packet, opts);
        };
        let targets = self.live_targets(id, packet, opts);
        self.local.deliver(&targets, packet, opts.volatile);
    }

    /// The local sockets entry `id` goes to live; buffers it for the restores that are not done
    /// replaying, and leaves out the restored sockets whose replay already had it.
    fn live_targets(
        &self,
        id: (u64, u64),
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) -> Vec<Sid> {
        let mut restores = lock(&self.restores);
        let mut already_replayed = Vec::new();
        for (sid, restore) in restores.iter_mut() {
            if !streams::includes(&restore.rooms, opts) {
                continue;
            }
            match restore.replayed_to {
                Some(last) if restore.joined => {
                    if id <= last {
                        already_replayed.push(Room::Owned(sid.as_str().to_owned()));
                    }
                }
                _ if restore.buffer.len() < RESTORE_BUFFER_MAX => {
                    restore.buffer.push((id, packet.frames().to_vec()));
                }
                _ => tracing::warn!(socket = %sid, "restore buffer full: a live packet is lost"),
            }
        }
        if already_replayed.is_empty() {
            return self.local.targets(opts);
        }
        let mut opts = opts.clone();
        opts.except.extend(already_replayed);
        self.local.targets(&opts)
    }

    /// The restored socket just joined its rooms: it gets what was delivered during its replay
    /// and the replay did not have; from now on live delivery reaches it.
    pub(super) fn hand_over(&self, sid: Sid, restore: &mut Restore) {
        if restore.joined {
            return;
        }
        restore.joined = true;
        restore.since = std::time::Instant::now();
        let last = restore.replayed_to.unwrap_or_default();
        let mut buffered = std::mem::take(&mut restore.buffer);
        buffered.retain(|(id, _)| *id > last);
        buffered.sort_by_key(|(id, _)| *id);
        if buffered.is_empty() {
            return;
        }
        self.ns
            .send_unbounded(sid, buffered.into_iter().flat_map(|(_, f)| f).collect());
    }

    /// Adds a broadcast to the stream. A recoverable packet is delivered here once Redis gave
    /// its entry an id, which becomes the packet's offset (Node's `addOffsetIfNecessary`); the
    /// publisher hands ids back in order, so broadcasts keep their order.
    pub(super) fn broadcast_to_stream(
        self: &Arc<Self>,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let Some((names, wire)) = self
            .names()
            .and_then(|names| Some((names, wire_packet(&names.nsp, &packet)?)))
        else {
            self.local.broadcast(&packet, &opts);
            return Ok(());
        };
        let body = Body::Broadcast {
            packet: wire,
            opts: wire_opts(&opts, None),
            request_id: None,
        };
        let fields = streams::entry_fields(
            &self.uid,
            &names.nsp,
            body.kind(),
            &body.to_data().unwrap_or_default(),
            packet.attachments(),
        );
        if !(packet.recoverable && self.ns.recovers()) {
            self.local.broadcast(&packet, &opts);
            return self.driver.publish(Outgoing::stream_add(fields, None));
        }
        let shared = Arc::downgrade(self);
        let deliver = Box::new(move |offset: Option<String>| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            match offset {
                Some(offset) => {
                    let packet = packet.into_offset(&offset);
                    shared.deliver_entry(&packet, &opts, Some(&offset));
                }
                // Not in the stream: delivered all the same, without an offset.
                None => shared.local.broadcast(&packet, &opts),
            }
        });
        self.driver
            .publish(Outgoing::stream_add(fields, Some(deliver)))
    }

    /// `SET <prefix><pid> <base64 msgpack session> PX <ttl>` (Node's `persistSession`).
    pub(super) async fn persist_session(
        &self,
        session: RecoverySession,
        ttl: Duration,
    ) -> Result<(), AdapterError> {
        let options = &self.driver.config().streams;
        let key = format!("{}{}", options.session_key_prefix, session.pid);
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.driver
            .set_px(key, streams::encode_session(&session), ttl)
            .await
    }

    /// Node's `restoreSession`: takes the session (`GETDEL`), checks that the offset is still in
    /// the stream, then reads the stream after it for the broadcasts the session's rooms got.
    pub(super) async fn restore_session(
        self: Arc<Self>,
        pid: String,
        offset: Option<String>,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        let Some(names) = self.names() else {
            return Ok(None);
        };
        // Where a session started is not kept in the stream's sessions (yet): as Node, a
        // client that never got an offset gets a new connection.
        let Some(offset) = offset else {
            return Ok(None);
        };
        // Neither can name a session or an entry unless well formed: no round trip for those.
        if !streams::valid_offset(&offset) || pid.parse::<Sid>().is_err() {
            return Ok(None);
        }
        let options = &self.driver.config().streams;
        let key = format!("{}{pid}", options.session_key_prefix);
        let (raw, found) = self
            .driver
            .take_and_find(key, &options.stream_name, &offset)
            .await?;
        let Some(session) = raw.as_deref().and_then(streams::decode_session) else {
            return Ok(None);
        };
        if streams::parse_entries(&found).is_empty() {
            return Ok(None);
        }
        self.begin_restore(&session);
        let replay = self.replay(names, &session, offset).await;
        let mut restores = lock(&self.restores);
        match replay {
            Ok((missed, last)) => {
                if let Some(restore) = restores.get_mut(&session.sid) {
                    restore.replayed_to = streams::parse_id(&last);
                }
                Ok(Some(RestoredSession { session, missed }))
            }
            Err(err) => {
                restores.remove(&session.sid);
                Err(err)
            }
        }
    }

    /// Starts buffering live entries for a session about to be replayed (and forgets restores
    /// that are over or were abandoned).
    pub(super) fn begin_restore(&self, session: &RecoverySession) {
        let mut restores = lock(&self.restores);
        restores.retain(|_, r| r.since.elapsed() < RESTORE_HANDOVER);
        restores.insert(
            session.sid,
            Restore {
                rooms: session.rooms.clone(),
                replayed_to: None,
                buffer: Vec::new(),
                joined: false,
                since: std::time::Instant::now(),
            },
        );
    }

    /// Reads the stream after `offset` for what the session missed; returns the frames and the
    /// id of the last entry read.
    pub(super) async fn replay(
        &self,
        names: &Names,
        session: &RecoverySession,
        offset: String,
    ) -> Result<(Vec<Frame>, String), AdapterError> {
        let options = &self.driver.config().streams;
        let mut missed = Vec::new();
        let mut copies = streams::Copies::default();
        let mut cursor = offset;
        for _ in 0..streams::RESTORE_MAX_RANGES {
            let Some(start) = streams::next_offset(&cursor) else {
                break;
            };
            let reply = self
                .driver
                .xrange(&options.stream_name, start, streams::RESTORE_RANGE_COUNT)
                .await?;
            let entries = streams::parse_entries(&reply);
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                cursor.clone_from(&entry.id);
                if entry.nsp == names.nsp && !copies.is_copy(&entry) {
                    missed.extend(self.missed_frames(names, &session.rooms, entry));
                }
            }
        }
        Ok((missed, cursor))
    }

    /// The frames of a stream entry for a session in `rooms`: a broadcast that targeted them,
    /// with its offset.
    pub(super) fn missed_frames(
        &self,
        names: &Names,
        rooms: &[Room],
        entry: StreamEntry,
    ) -> Vec<Frame> {
        let Some(Decoded { value, attachments }) = entry.message else {
            return Vec::new();
        };
        let message = match ClusterMessage::from_value(value) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(id = entry.id, error = %err, "replay skips a malformed entry");
                return Vec::new();
            }
        };
        let Body::Broadcast {
            packet,
            opts,
            request_id: None,
        } = message.body
        else {
            return Vec::new();
        };
        let opts = opts.to_options();
        if opts.volatile || !streams::includes(rooms, &opts) {
            return Vec::new();
        }
        let packet = with_trailing_arg(&packet, &entry.id);
        self.remote_packet(names, &packet, attachments, None)
            .map(BroadcastPacket::into_frames)
            .unwrap_or_default()
    }
}
