//! One client connection (one Engine.IO session) and the namespaces it joined: where an
//! Engine.IO message becomes a Socket.IO packet and reaches its namespace.

use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;

use crate::adapter::RestoredSession;
use crate::core::error::ConnectError;
use crate::core::sync::lock;
use crate::engine::{CloseReason, EngineHandler, Message, ProtocolVersion, Session};
use crate::io::ServerCore;
use crate::namespace::Namespace;
use crate::parser::{self, EncodedArgs, Packet, PacketDecoder, PacketType};
use crate::socket::{DisconnectReason, Socket, SocketRef};

/// The Engine.IO handler of a Socket.IO server.
pub(crate) struct SioHandler {
    pub(crate) core: Arc<ServerCore>,
}

impl EngineHandler for SioHandler {
    type State = Arc<Client>;

    fn on_open(&self, session: &Session) -> Arc<Client> {
        let client = Arc::new_cyclic(|this| Client {
            core: self.core.clone(),
            session: session.clone(),
            decoder: Mutex::new(PacketDecoder::new(
                self.core.config.parser,
                self.core.config.max_attachments,
                self.core.config.max_json_depth,
            )),
            namespaces: Mutex::new(Vec::new()),
            connect_timer: Mutex::new(None),
            this: this.clone(),
        });
        client.start_connect_timer();
        if session.protocol() == ProtocolVersion::V3 {
            // Socket.IO v2 clients are in the main namespace without asking, as in Node.
            client.connect("/".to_owned(), None);
        }
        client
    }

    fn on_message(&self, client: &Arc<Client>, _session: &Session, message: Message) {
        client.on_message(message);
    }

    fn on_close(&self, client: &Arc<Client>, _session: &Session, reason: CloseReason) {
        client.on_close(reason.into());
    }

    fn on_upgrade(&self, client: &Arc<Client>, _session: &Session) {
        for socket in client.connected_sockets() {
            if let Some(observer) = socket.ns.observer() {
                observer.transport_upgraded(&socket);
            }
        }
    }
}

enum Slot {
    /// Its connect middlewares are running.
    Connecting,
    Connected(SocketRef),
}

/// A client connection and the sockets it has in each namespace.
pub(crate) struct Client {
    core: Arc<ServerCore>,
    session: Session,
    decoder: Mutex<PacketDecoder>,
    namespaces: Mutex<Vec<(String, Slot)>>,
    connect_timer: Mutex<Option<tokio::task::AbortHandle>>,
    this: Weak<Client>,
}

impl Client {
    /// Node closes a client that joins no namespace within `connect_timeout`.
    fn start_connect_timer(&self) {
        let this = self.this.clone();
        let timeout = self.core.config.connect_timeout;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(client) = this.upgrade() else {
                return;
            };
            let joined_none = lock(&client.namespaces).is_empty();
            if joined_none {
                tracing::debug!(sid = %client.session.sid(), "no namespace joined in time");
                client.close_all(DisconnectReason::ForcedServerClose);
            }
        });
        *lock(&self.connect_timer) = Some(timer.abort_handle());
    }

    fn on_message(&self, message: Message) {
        let decoded = lock(&self.decoder).decode(message);
        match decoded {
            Ok(Some(packet)) => self.route(packet),
            Ok(None) => {}
            Err(error) => {
                // Node: the decoder throws, the client closes its connection ("forced close").
                tracing::warn!(sid = %self.session.sid(), %error, "invalid Socket.IO packet");
                self.session.close_gracefully();
            }
        }
    }

    fn slot(&self, ns: &str) -> Option<Option<SocketRef>> {
        lock(&self.namespaces)
            .iter()
            .find(|(name, _)| name == ns)
            .map(|(_, slot)| match slot {
                Slot::Connected(socket) => Some(socket.clone()),
                Slot::Connecting => None,
            })
    }

    fn route(&self, packet: Packet) {
        tracing::trace!(sid = %self.session.sid(), ns = %packet.ns, kind = ?packet.kind, "packet in");
        match (packet.kind, self.slot(&packet.ns)) {
            (PacketType::Connect, None) if self.is_v3() => {
                // v2 clients put their query in the namespace: `/admin?token=abc`.
                let (ns, auth) = split_v3_namespace(&packet.ns);
                if self.slot(&ns).is_some() {
                    return;
                }
                self.connect(ns, Some(auth));
            }
            (PacketType::Connect, None) => self.connect(packet.ns, packet.data),
            (PacketType::Connect | PacketType::ConnectError, Some(_)) => {
                self.close_all(DisconnectReason::ForcedClose)
            }
            (_, Some(Some(socket))) => socket.on_packet(packet),
            // A packet for a namespace not (yet) joined breaks the protocol: Node closes the
            // connection, and its sockets see "forced close".
            _ => self.close_all(DisconnectReason::ForcedClose),
        }
    }

    fn connect(&self, name: String, auth: Option<Value>) {
        // The cap comes first, so a refused CONNECT creates no dynamic namespace.
        if lock(&self.namespaces).len() >= self.core.config.max_namespaces_per_client {
            self.refuse(&name, &ConnectError::new("Too many namespaces"));
            return;
        }
        let Some(ns) = self.core.resolve_namespace(&name) else {
            // `{"message":"Invalid namespace"}` for every protocol revision, as in Node.
            self.refuse_with(&name, ConnectError::new("Invalid namespace").to_json());
            return;
        };
        let mut namespaces = lock(&self.namespaces);
        // Most clients join one namespace: room for one, not the four a first push makes.
        if namespaces.capacity() == 0 {
            namespaces.reserve_exact(1);
        }
        namespaces.push((name, Slot::Connecting));
        drop(namespaces);
        // Answered once the namespace's adapter hears the other nodes (at once, unless the
        // namespace is new and its subscriptions are not confirmed yet), so a client told it is
        // connected misses no broadcast sent after that. The namespace stays `Connecting`
        // meanwhile, as it does while middlewares run.
        if ns.adapter.is_ready() {
            self.connect_ready(ns, auth);
            return;
        }
        let this = self.this.clone();
        let wait = self.core.config.connect_timeout;
        tokio::spawn(async move {
            match tokio::time::timeout(wait, ns.adapter.ready()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(ns = %ns.name, %error, "adapter not ready; connecting anyway");
                }
                Err(_) => tracing::warn!(
                    ns = %ns.name,
                    "adapter not ready within the connect timeout; connecting anyway"
                ),
            }
            if let Some(client) = this.upgrade() {
                client.connect_ready(ns, auth);
            }
        });
    }

    /// Goes on with a CONNECT once the namespace's adapter is ready: recovers the session the
    /// client asks for, if any, then creates the socket.
    fn connect_ready(&self, ns: Arc<Namespace>, auth: Option<Value>) {
        let Some((pid, offset)) = recovery_request(&ns, auth.as_ref()) else {
            return self.connect_socket(ns, auth, None);
        };
        crate::metrics::global().recovery_attempts.increment(1);
        // The adapter keeps the sessions and may answer asynchronously; the namespace stays
        // `Connecting` meanwhile, as it does while middlewares run.
        let this = self.this.clone();
        tokio::spawn(async move {
            let restored = match ns.adapter.restore_session(pid, offset).await {
                Ok(Some(restored)) => {
                    crate::metrics::global().recovery_successes.increment(1);
                    Some(restored)
                }
                Ok(None) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "session not restored: a new connection");
                    None
                }
            };
            if let Some(client) = this.upgrade() {
                client.connect_socket(ns, auth, restored);
            }
        });
    }

    /// Creates the socket (a recovered one when `restored`), runs the middlewares unless it
    /// may skip them, and completes the connection.
    fn connect_socket(
        &self,
        ns: Arc<Namespace>,
        auth: Option<Value>,
        restored: Option<RestoredSession>,
    ) {
        let (restored, recovery) = match restored {
            Some(RestoredSession { session, missed }) => {
                let rooms = session.rooms.clone();
                (Some(session), RecoveredState { rooms, missed })
            }
            None => (None, RecoveredState::default()),
        };
        // Socket.IO v2 clients compute their id in `/` as the Engine.IO id (Node gives it
        // them so); other namespaces' `/nsp#id` form does not fit a socket id here.
        let legacy_id = (self.is_v3() && ns.name == "/").then(|| self.session.sid());
        let socket = Socket::new(
            ns.clone(),
            self.session.clone(),
            auth.clone(),
            self.this.clone(),
            restored,
            legacy_id,
        );
        let skip_middlewares =
            socket.recovered() && ns.recovery.is_some_and(|r| r.skip_middlewares);
        if skip_middlewares || !ns.handlers.has_middlewares() {
            self.finish_connect(&ns, socket, auth, recovery);
            return;
        }
        let this = self.this.clone();
        tokio::spawn(async move {
            let result = ns.handlers.run_middlewares(&socket, &auth).await;
            let Some(client) = this.upgrade() else {
                return;
            };
            match result {
                Ok(()) => client.finish_connect(&ns, socket, auth, recovery),
                Err(error) => {
                    client.remove_socket(&ns.name);
                    ns.adapter.del_all(socket.id());
                    client.refuse(&ns.name, &error);
                    ns.forget_if_unused();
                }
            }
        });
    }

    fn finish_connect(
        &self,
        ns: &Arc<Namespace>,
        socket: SocketRef,
        auth: Option<Value>,
        recovery: RecoveredState,
    ) {
        if !self.session.is_open() {
            self.remove_socket(&ns.name);
            // It joined nothing, but the adapter may be holding a restore for it.
            ns.adapter.del_all(socket.id());
            // A dynamic namespace its CONNECT created goes again, as when a middleware refuses.
            ns.forget_if_unused();
            return;
        }
        ns.insert_socket(socket.clone());
        // Connected before joining: from its first room on, broadcasts reach it.
        socket.set_connected();
        ns.metrics.sockets.increment(1.0);
        self.rejoin(&socket, recovery);
        socket.track_session();
        if self.is_v3() && ns.name != "/" {
            // A v2 client believes its id here is `/nsp#<engine id>`; the room of that name
            // makes messages to it arrive, although `socket.id()` is a random id.
            socket.join(format!("{}#{}", ns.name, self.session.sid()));
        }
        if let Some((_, slot)) = lock(&self.namespaces)
            .iter_mut()
            .find(|(name, _)| *name == ns.name)
        {
            *slot = Slot::Connected(socket.clone());
        }
        if let Some(timer) = lock(&self.connect_timer).take() {
            timer.abort();
        }
        // v2 clients (Engine.IO v3) expect a bare CONNECT; later ones learn their id from it,
        // and their private id when they may recover.
        let json = match (self.is_v3(), socket.pid()) {
            (true, _) => String::new(),
            (false, Some(pid)) => format!(r#"{{"sid":"{}","pid":"{pid}"}}"#, socket.id()),
            (false, None) => format!(r#"{{"sid":"{}"}}"#, socket.id()),
        };
        let reply = EncodedArgs {
            json,
            attachments: Vec::new(),
        };
        let _ = self.session.send_frames(parser::encode(
            self.core.config.parser,
            PacketType::Connect,
            &ns.name,
            None,
            None,
            &reply,
        ));
        tracing::debug!(sid = %self.session.sid(), socket = %socket.id(), ns = %ns.name, "socket connected");
        if let Some(observer) = ns.observer() {
            observer.socket_connected(&socket);
        }
        ns.handlers.call_connect(socket, auth);
    }

    /// Joins the socket to its rooms (its own, and a recovered socket's), sending a recovered
    /// socket what it missed first, in order, as Node does.
    fn rejoin(&self, socket: &SocketRef, recovery: RecoveredState) {
        let mut rooms = recovery.rooms;
        if !rooms.iter().any(|r| r.as_ref() == socket.id().as_str()) {
            rooms.push(socket.id().as_str().to_owned().into());
        }
        self.replay(recovery.missed);
        // Joining its rooms, its own among them, in one go is the moment an adapter that was
        // buffering what is broadcast to a restored socket hands it over to live delivery.
        socket.join(rooms);
    }

    /// Queues what a recovered socket missed. Bounded by the recovery log, not by the queue: a
    /// slow consumer that comes back for what it missed must not be dropped again for taking it.
    fn replay(&self, missed: Vec<crate::engine::Frame>) {
        if !missed.is_empty() {
            self.session.send_frames_unbounded(missed);
        }
    }

    fn refuse(&self, ns: &str, error: &ConnectError) {
        // v2 clients get the error's data, or else its message, as the whole payload (Node).
        let json = match (self.is_v3(), error.data()) {
            (true, Some(data)) => data.to_string(),
            (true, None) => Value::String(error.message().to_owned()).to_string(),
            (false, _) => error.to_json(),
        };
        self.refuse_with(ns, json);
    }

    fn refuse_with(&self, ns: &str, json: String) {
        let payload = EncodedArgs {
            json,
            attachments: Vec::new(),
        };
        let _ = self.session.send_frames(parser::encode(
            self.core.config.parser,
            PacketType::ConnectError,
            ns,
            None,
            None,
            &payload,
        ));
    }

    fn is_v3(&self) -> bool {
        self.session.protocol() == ProtocolVersion::V3
    }

    pub(crate) fn remove_socket(&self, ns: &str) {
        lock(&self.namespaces).retain(|(name, _)| name != ns);
    }

    fn connected_sockets(&self) -> Vec<SocketRef> {
        lock(&self.namespaces)
            .iter()
            .filter_map(|(_, slot)| match slot {
                Slot::Connected(socket) => Some(socket.clone()),
                Slot::Connecting => None,
            })
            .collect()
    }

    /// Ends every socket for `reason` and closes the connection (Node's `client.close()`).
    pub(crate) fn close_all(&self, reason: DisconnectReason) {
        for socket in self.connected_sockets() {
            socket.on_close(reason);
        }
        self.session.close_gracefully();
    }

    /// Each socket is told it was disconnected, then the connection closes (Node's
    /// `socket.disconnect(true)`).
    pub(crate) fn disconnect_all(&self) {
        for socket in self.connected_sockets() {
            socket.disconnect(false);
        }
        self.session.close_gracefully();
    }

    fn on_close(&self, reason: DisconnectReason) {
        if let Some(timer) = lock(&self.connect_timer).take() {
            timer.abort();
        }
        for socket in self.connected_sockets() {
            socket.on_close(reason);
        }
        lock(&self.namespaces).clear();
    }
}

/// Splits a v2 client's `/nsp?a=b` into the namespace and its query as an auth object.
fn split_v3_namespace(raw: &str) -> (String, Value) {
    let (ns, query) = raw.split_once('?').unwrap_or((raw, ""));
    let auth: serde_json::Map<String, Value> = crate::engine::query_pairs(query)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    (ns.to_owned(), Value::Object(auth))
}

/// What a recovered socket gets back besides its id and data.
#[derive(Default)]
struct RecoveredState {
    rooms: Vec<crate::adapter::Room>,
    /// What it missed, as its adapter's store gave it (none for a new socket).
    missed: Vec<crate::engine::Frame>,
}

/// The `{pid, offset}` a CONNECT asks to recover with, if the namespace recovers sessions. A
/// client that never received a packet with an offset sends its `pid` alone.
fn recovery_request(ns: &Namespace, auth: Option<&Value>) -> Option<(String, Option<String>)> {
    ns.recovery.as_ref()?;
    let auth = auth?;
    let pid = auth.get("pid")?.as_str()?;
    let offset = auth
        .get("offset")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some((pid.to_owned(), offset))
}
