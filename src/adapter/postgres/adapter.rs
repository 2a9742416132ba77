//! One namespace's PostgreSQL adapter: its state, what it does with each message of another
//! node, and the [`Adapter`] impl.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::driver::Driver;
use super::heartbeat::Nodes;
use super::remote_ack_sid;
use super::wire::{self, Outgoing};
use crate::adapter::cluster::codec::Decoded;
use crate::adapter::cluster::message::{Body, ClusterMessage};
use crate::adapter::cluster::node::{
    ack_response, broadcast_with_ack_from_node, first_arg, local_sockets, remote_packet,
    remote_socket, room_names, rooms_of, run_server_side, wire_opts, wire_packet,
};
use crate::adapter::cluster::ready::Readiness;
use crate::adapter::cluster::requests::{
    AckEvent, AckReply, Answer, Expected, PendingKind, Requests, collect_cluster_acks, random_id,
    wait_answers,
};
use crate::adapter::cluster::{WireOpts, WirePacket};
use crate::adapter::{
    Adapter, AdapterFuture, BroadcastOptions, BroadcastPacket, LocalAdapter, NamespaceHandle,
    RecoverySession, RestoredSession, Room, SessionStore, SocketInfo,
};
use crate::core::ack::BroadcastAckFuture;
use crate::core::error::AdapterError;
use crate::engine::Sid;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The state of one namespace's adapter, shared with the tasks of its server.
pub(crate) struct NsShared {
    pub(super) id: u64,
    pub(super) driver: Arc<Driver>,
    pub(super) ns: NamespaceHandle,
    pub(super) local: LocalAdapter,
    /// This adapter's id on the wire (16 hex digits, per namespace, as Node's).
    pub(super) uid: String,
    pub(super) nsp: String,
    pub(super) channel: String,
    pub(super) requests: Arc<Requests>,
    pub(super) nodes: Nodes,
    /// Set once PostgreSQL confirmed the `LISTEN` of the namespace's channel.
    pub(super) listening: Readiness,
    /// With connection state recovery on: this node's sessions and packet log, in memory (as
    /// the Redis pub/sub modes; Node's PostgreSQL adapter does not recover sessions at all).
    pub(super) sessions: Option<SessionStore>,
}

/// A namespace's PostgreSQL adapter, built by
/// [`PostgresAdapterBuilder`](super::PostgresAdapterBuilder).
///
/// Rooms live in memory like with the [`MemoryAdapter`](crate::adapter::MemoryAdapter); every
/// operation that spans nodes is notified on PostgreSQL in the format of Node's
/// `@socket.io/postgres-adapter` 0.5, so Rust and Node nodes can share a cluster. See the
/// [module docs](super) for the channel and the messages.
///
/// ```no_run
/// use tower_socketio::SocketIo;
/// use tower_socketio::adapter::postgres::{PostgresAdapter, PostgresAdapterConfig};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let config = PostgresAdapterConfig::new("host=127.0.0.1 user=postgres");
/// let io = SocketIo::builder().adapter(PostgresAdapter::connect(config).await?).build();
/// io.emit("hello", &"every client of every node").ok();
/// # Ok(()) }
/// ```
pub struct PostgresAdapter {
    shared: Arc<NsShared>,
}

impl std::fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("uid", &self.shared.uid)
            .field("channel", &self.shared.channel)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresAdapter {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared
            .driver
            .unregister(&shared.nsp, shared.id, &shared.channel);
    }
}

impl PostgresAdapter {
    pub(crate) fn new(driver: Arc<Driver>, ns: NamespaceHandle) -> Self {
        let config = &driver.config;
        let nsp = ns.name().to_owned();
        let shared = Arc::new(NsShared {
            sessions: ns.recovery().map(SessionStore::new),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            channel: wire::channel(&config.channel_prefix, &nsp),
            nodes: Nodes::new(config.heartbeat_timeout),
            local: LocalAdapter::new(ns.clone()),
            ns,
            nsp,
            uid: random_id(),
            requests: Arc::default(),
            listening: Readiness::new(),
            driver,
        });
        if shared.channel.len() > wire::MAX_CHANNEL_LEN {
            tracing::error!(
                channel = shared.channel,
                "channel name longer than PostgreSQL's 63 bytes: namespace {} stays local",
                shared.nsp
            );
            shared.listening.close();
        }
        shared.driver.register(&shared);
        PostgresAdapter { shared }
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T, AdapterError>) -> AdapterFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl NsShared {
    fn message(&self, body: Body) -> ClusterMessage {
        ClusterMessage {
            uid: self.uid.clone(),
            nsp: self.nsp.clone(),
            body,
        }
    }

    /// Queues a message of this node, with its binary data, for the other nodes.
    fn publish(&self, body: Body, attachments: &[Bytes]) -> Result<(), AdapterError> {
        if self.channel.len() > wire::MAX_CHANNEL_LEN {
            return Ok(());
        }
        let config = &self.driver.config;
        let outgoing = Outgoing::of(
            self.channel.clone(),
            &self.message(body),
            attachments,
            config.payload_threshold,
        );
        self.driver.publish(outgoing)
    }

    /// Queues a message without binary data; a failure is logged (heartbeats and answers have
    /// nobody to report it to).
    pub(super) fn publish_body(&self, body: Body) {
        let kind = body.kind();
        if let Err(err) = self.publish(body, &[]) {
            tracing::debug!(error = %err, ?kind, "a message to other nodes was not queued");
        }
    }

    /// PostgreSQL confirmed the `LISTEN` (at start, or after a reconnection): the namespace is
    /// ready, and announces itself so that the others answer with their heartbeats.
    pub(super) fn on_listening(&self) {
        self.listening.set();
        self.publish_body(Body::InitialHeartbeat);
    }

    /// Delivers a broadcast to this node's sockets, through the session store when recovery is
    /// on (it gives a recoverable packet its offset and logs it).
    fn deliver_local(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        match &self.sessions {
            Some(sessions) => sessions.broadcast(&self.local, packet, opts),
            None => self.local.broadcast(packet, opts),
        }
    }

    /// Puts a local socket in rooms, through the session store when there is one (a restored
    /// socket's hand-over happens there).
    fn join_local(&self, sid: Sid, rooms: Vec<Room>) {
        match &self.sessions {
            Some(sessions) => sessions.add_all(&self.local, sid, rooms),
            None => self.local.add_all(sid, rooms),
        }
    }

    /// The targeted local sockets join rooms.
    fn add_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.targets(opts) {
            self.join_local(sid, rooms.to_vec());
        }
    }

    /// 1 plus the other nodes heard from within the heartbeat timeout.
    fn server_count(&self) -> usize {
        1 + self.nodes.live().len()
    }

    /// A message from the namespace's channel (`channel_nsp`: the namespace the channel names,
    /// for messages without one).
    pub(super) fn on_message(self: &Arc<Self>, channel_nsp: &str, decoded: Decoded) {
        let (message, attachments) = match wire::typed_message(decoded, channel_nsp) {
            Ok(typed) => typed,
            Err(err) => {
                return tracing::warn!(
                    channel = self.channel,
                    error = %err,
                    "ignoring a malformed PostgreSQL message"
                );
            }
        };
        let ClusterMessage { uid, nsp, body } = message;
        if uid == self.uid {
            return;
        }
        if nsp != self.nsp {
            return tracing::debug!(
                channel = self.channel,
                nsp,
                "ignoring a PostgreSQL message for another namespace"
            );
        }
        // Only now, with the message read in full, is its sender taken for a node.
        self.nodes.seen(&uid);
        match body {
            Body::InitialHeartbeat => self.publish_body(Body::Heartbeat),
            Body::Heartbeat => {}
            Body::AdapterClose => {
                self.nodes.gone(&uid);
                self.requests.node_gone(&uid);
            }
            Body::Broadcast {
                packet,
                opts,
                request_id: Some(id),
            } => self.on_broadcast_with_ack(&packet, &opts, attachments, id),
            Body::Broadcast {
                packet,
                opts,
                request_id: None,
            } => match remote_packet(
                &self.ns,
                &packet,
                attachments,
                None,
                self.sessions.is_some(),
            ) {
                Some(packet) => self.deliver_local(&packet, &opts.to_options()),
                None => tracing::warn!("ignoring a PostgreSQL broadcast whose packet is malformed"),
            },
            Body::SocketsJoin { opts, rooms } => {
                self.add_sockets_local(&opts.to_options(), &rooms_of(&rooms));
            }
            Body::SocketsLeave { opts, rooms } => {
                self.local
                    .del_sockets(&opts.to_options(), &rooms_of(&rooms));
            }
            Body::DisconnectSockets { opts, close } => {
                self.local.disconnect_sockets(&opts.to_options(), close);
            }
            Body::FetchSockets { opts, request_id } => {
                let sockets = local_sockets(&self.local, &opts.to_options());
                self.publish_body(Body::FetchSocketsResponse {
                    request_id,
                    sockets,
                });
            }
            Body::ServerSideEmit { packet, request_id } => {
                let answer = run_server_side(&self.ns, packet);
                if let (Some(request_id), Some(packet)) = (request_id, answer) {
                    self.publish_body(Body::ServerSideEmitResponse { request_id, packet });
                }
            }
            response => self.on_response(&uid, response, attachments),
        }
    }

    /// Another node's broadcast with ack: the client count, then each answer, go back on the
    /// channel (Node's PostgreSQL adapter does not target answers).
    fn on_broadcast_with_ack(
        self: &Arc<Self>,
        packet: &WirePacket,
        opts: &WireOpts,
        attachments: Vec<Bytes>,
        request_id: String,
    ) {
        let shared = self.clone();
        let reply = move |reply: AckReply| {
            let request_id = request_id.clone();
            let (body, attachments) = match reply {
                AckReply::Count(count) => (
                    Body::BroadcastClientCount {
                        request_id,
                        client_count: u64::try_from(count).unwrap_or(u64::MAX),
                    },
                    Vec::new(),
                ),
                AckReply::Ack(response) => (
                    Body::BroadcastAck {
                        request_id,
                        packet: first_arg(&response),
                    },
                    response.attachments,
                ),
            };
            if let Err(err) = shared.publish(body, &attachments) {
                tracing::debug!(error = %err, "an ack report to another node was not queued");
            }
        };
        let timeout = self.driver.config.requests_timeout;
        broadcast_with_ack_from_node(&self.local, packet, opts, attachments, timeout, reply);
    }

    /// An answer to a request; this node keeps it only if the request is its own.
    fn on_response(&self, from: &str, body: Body, attachments: Vec<Bytes>) {
        match body {
            Body::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                let count = usize::try_from(client_count).unwrap_or(0);
                self.requests
                    .ack_event(&request_id, AckEvent::ClientCount(count));
            }
            Body::BroadcastAck { request_id, packet } => {
                let response = ack_response(packet, attachments);
                self.requests
                    .ack_event(&request_id, AckEvent::Ack(response));
            }
            Body::FetchSocketsResponse {
                request_id,
                sockets,
            } => self
                .requests
                .answer(&request_id, Some(from), Answer::Sockets(sockets)),
            Body::ServerSideEmitResponse { request_id, packet } => {
                self.requests
                    .answer(&request_id, Some(from), Answer::Value(packet));
            }
            other => tracing::debug!(kind = ?other.kind(), "ignoring an unexpected message"),
        }
    }

    /// Publishes a request to every node known now and waits for each one's answer (a node
    /// that leaves meanwhile is no longer waited for).
    async fn request(
        &self,
        kind: PendingKind,
        timeout: Duration,
        body: impl FnOnce(String) -> Body,
    ) -> Result<Vec<Answer>, AdapterError> {
        let nodes: HashSet<String> = self.nodes.live().into_iter().collect();
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let (guard, answers) = self.requests.open(kind, Expected::Nodes(nodes));
        self.publish(body(guard.id.clone()), &[])?;
        wait_answers(answers, timeout).await
    }

    async fn fetch_remote(
        self: Arc<Self>,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let mut sockets = self.local.fetch_sockets(&opts);
        let timeout = self.driver.config.requests_timeout;
        let answers = self
            .request(PendingKind::Sockets, timeout, |request_id| {
                Body::FetchSockets {
                    opts: wire_opts(&opts, None),
                    request_id,
                }
            })
            .await?;
        for answer in answers {
            if let Answer::Sockets(remote) = answer {
                sockets.extend(remote.into_iter().filter_map(remote_socket));
            }
        }
        Ok(sockets)
    }

    async fn server_side(
        self: Arc<Self>,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        let mut packet = Vec::with_capacity(args.len() + 1);
        packet.push(Value::String(event));
        packet.extend(args);
        let answers = self
            .request(PendingKind::ServerSide, timeout, |request_id| {
                Body::ServerSideEmit {
                    packet,
                    request_id: Some(request_id),
                }
            })
            .await?;
        Ok(answers
            .into_iter()
            .filter_map(|answer| match answer {
                Answer::Value(value) => Some(value),
                _ => None,
            })
            .collect())
    }

    /// The cluster format has no rooms request: every room with a member is the room of some
    /// socket, so every socket is asked for (as Node's cluster adapters do).
    async fn all_rooms(self: Arc<Self>) -> Result<Vec<Room>, AdapterError> {
        let mut rooms: HashSet<String> = room_names(&self.local.rooms()).into_iter().collect();
        let sockets = self.fetch_remote(BroadcastOptions::default()).await?;
        rooms.extend(sockets.into_iter().flat_map(|s| room_names(&s.rooms)));
        Ok(rooms.into_iter().map(Room::Owned).collect())
    }

    fn operation(
        &self,
        opts: &BroadcastOptions,
        body: impl FnOnce(WireOpts) -> Body,
    ) -> Result<(), AdapterError> {
        if opts.local {
            return Ok(());
        }
        self.publish(body(wire_opts(opts, None)), &[])
    }
}

impl Adapter for PostgresAdapter {
    fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        self.shared.join_local(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.shared.local.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        match &self.shared.sessions {
            Some(sessions) => sessions.del_all(&self.shared.local, sid),
            None => self.shared.local.del_all(sid),
        }
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.shared.local.socket_rooms(sid)
    }

    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let shared = &self.shared;
        shared.deliver_local(&packet, &opts);
        if opts.local {
            return Ok(());
        }
        let Some(wire) = wire_packet(&shared.nsp, &packet) else {
            return Ok(());
        };
        let body = Body::Broadcast {
            packet: wire,
            opts: wire_opts(&opts, None),
            request_id: None,
        };
        shared.publish(body, packet.attachments())
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'_, BroadcastAckFuture> {
        let shared = &self.shared;
        let local = shared.local.broadcast_with_ack(&packet, &opts, timeout);
        if opts.local {
            return ready(Ok(local));
        }
        let Some(wire) = wire_packet(&shared.nsp, &packet) else {
            return ready(Ok(local));
        };
        let (guard, events) = shared.requests.open_acks();
        let body = Body::Broadcast {
            packet: wire,
            opts: wire_opts(&opts, Some(timeout)),
            request_id: Some(guard.id.clone()),
        };
        if let Err(err) = shared.publish(body, packet.attachments()) {
            tracing::warn!(error = %err, "broadcast with ack not sent to other nodes");
            return ready(Ok(local));
        }
        let servers = std::future::ready(Ok(shared.server_count()));
        ready(Ok(Box::pin(collect_cluster_acks(
            guard,
            local,
            events,
            timeout,
            servers,
            remote_ack_sid(),
        ))))
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<SocketInfo>> {
        if opts.local {
            return ready(Ok(self.shared.local.fetch_sockets(&opts)));
        }
        Box::pin(self.shared.clone().fetch_remote(opts))
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.shared.add_sockets_local(&opts, &rooms);
        self.shared.operation(&opts, |opts| Body::SocketsJoin {
            opts,
            rooms: room_names(&rooms),
        })
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.shared.local.del_sockets(&opts, &rooms);
        self.shared.operation(&opts, |opts| Body::SocketsLeave {
            opts,
            rooms: room_names(&rooms),
        })
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        self.shared.local.disconnect_sockets(&opts, close);
        self.shared
            .operation(&opts, |opts| Body::DisconnectSockets { opts, close })
    }

    fn server_side_emit(&self, event: String, args: Vec<Value>) -> Result<(), AdapterError> {
        let mut packet = Vec::with_capacity(args.len() + 1);
        packet.push(Value::String(event));
        packet.extend(args);
        let body = Body::ServerSideEmit {
            packet,
            request_id: None,
        };
        self.shared.publish(body, &[])
    }

    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
    ) -> AdapterFuture<'_, Vec<Value>> {
        Box::pin(self.shared.clone().server_side(event, args, timeout))
    }

    fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>> {
        Box::pin(self.shared.clone().all_rooms())
    }

    fn server_count(&self) -> AdapterFuture<'_, usize> {
        ready(Ok(self.shared.server_count()))
    }

    fn ready(&self) -> AdapterFuture<'_, ()> {
        let listening = &self.shared.listening;
        if listening.is_set() {
            return ready(Ok(()));
        }
        Box::pin(listening.wait())
    }

    fn is_ready(&self) -> bool {
        self.shared.listening.is_set()
    }

    fn close(&self) {
        // Says goodbye (the others stop counting and waiting for this node at once), then stops
        // listening; dropping the adapter would unregister too, but idle HTTP connections can
        // keep the server alive.
        let shared = &self.shared;
        if shared.listening.is_set() {
            shared.publish_body(Body::AdapterClose);
        }
        shared
            .driver
            .unregister(&shared.nsp, shared.id, &shared.channel);
        shared.listening.close();
    }

    fn persists_sessions(&self) -> bool {
        self.shared.sessions.is_some()
    }

    fn persist_session(
        &self,
        session: RecoverySession,
        _ttl: Duration,
    ) -> Result<(), AdapterError> {
        if let Some(sessions) = &self.shared.sessions {
            sessions.persist(session);
        }
        Ok(())
    }

    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> AdapterFuture<'_, Option<RestoredSession>> {
        let restored = self
            .shared
            .sessions
            .as_ref()
            .and_then(|sessions| sessions.restore(&pid, offset.as_deref()));
        ready(Ok(restored))
    }
}
