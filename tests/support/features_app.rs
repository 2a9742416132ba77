//! A Socket.IO server that exercises every feature of the handler API, for
//! `tests/js/socketio-features.mjs` (the real `socket.io-client`) to drive.
//!
//! [`start`] serves it on `127.0.0.1:0` and returns a [`FeaturesApp`]: the base
//! URL, the [`SocketIo`] handle, and the [`Facts`] the server recorded (who
//! connected, which middlewares ran, disconnect reasons, ack outcomes, ...),
//! which the Rust test checks once the script is done. The same facts are
//! readable by the script through the `facts` event.
//!
//! Every client connects with `auth: { name }` (a unique name per client, so
//! facts can be told apart); `role: "admin"` is needed for `/admin`.
//!
//! ## Namespaces
//!
//! - `/`: middlewares `gate` (refuses `token: "bad"` with data), then
//!   `identify` (async; `Data<Auth>`, stores the [`User`] extension).
//! - `/admin`: middleware `admin_gate` (refuses unless `role == "admin"`).
//! - `/dyn-*`: dynamic, all children share `on_dyn_connect` and `dyn_gate`
//!   (which refuses `/dyn-forbidden`).
//!
//! Any other namespace is refused with "Invalid namespace".
//!
//! ## Request events (namespace `/` unless said otherwise)
//!
//! Requests are acknowledged once done (all of them but `disconnect-me` and
//! `close-transport`, which end the socket).
//!
//! | event | payload | does |
//! | --- | --- | --- |
//! | `ping` (every ns) | | acks `"pong"` (used as an ordering barrier) |
//! | `whoami` (every ns) | | acks `{name, role, id, ns, rooms}` (`Extension<User>`) |
//! | `join` / `leave` (every ns) | room or rooms | acks the socket's rooms, sorted |
//! | `disconnect-me` (every ns) | `close: bool` | `socket.disconnect(close)` |
//! | `close-transport` (every ns) | | closes the Engine.IO session (`session().close_gracefully()`) |
//! | `facts` (every ns) | `{name}` | acks what the server recorded about `name` |
//! | `echo` | any args, binary too | emits `echo` back with the same args (`Args` + `Bin`) |
//! | `echo-ack` | any args, binary too | acks with the same args |
//! | `bin-info` | any args | acks `{count, hex, args}`: the `Bin` attachments and the JSON with placeholders |
//! | `bin-from-server` | | emits `bin-data` (object with nested placeholders) and `bin-args` (placeholders as top-level args) |
//! | `emit-null` | | emits `none-arg` with `None` and `null-arg` with `Value::Null`, acks `Value::Null` |
//! | `typed` | `{x, y}` | `TryData<Point>`: acks `{ok}` or `{err}` |
//! | `typed-strict` | `{x, y}` | `Data<Point>`: acks `{sum}`; not called at all on bad input |
//! | `delayed-ack` | `{ms, value}` | async: sleeps, then acks `value` |
//! | `emit` | `{op, rooms, except, event, data, ns}` | broadcasts `data` (its binary forwarded) with the operator named by `op`, see [`on_emit`] |
//! | `volatile` | `{target, count}` | `volatile` emits `vol` 0..count to itself or (`target: "others"`) to the others, then a regular `vol-done` |
//! | `ask-client` | `{label, event, data, timeout_ms?}` | server→client `emit_with_ack`; acks `{ok, attachments}` or `{err}` and `elapsed_ms` |
//! | `broadcast-ack` | `{label, from, rooms, timeout_ms, data}` | broadcast with ack (`io` or `socket`); acks `{answers: {name: {ok} / {err}}, elapsed_ms}` |
//! | `fetch` | `{rooms}` | `fetch_sockets`; acks `[{name, id, rooms, auth_name}]` sorted by name |
//! | `sockets-join` / `sockets-leave` | `{rooms, join / leave}` | `io.within(rooms).join/leave(..)` (`sockets_join` / `sockets_leave` when `rooms` is empty) |
//! | `disconnect-sockets` | `{rooms, close}` | `io.within(rooms).disconnect(close)` |
//! | `all-rooms` | | acks every room that is not a socket id, and the server count |
//! | `ns-exists` | `{ns}` | acks whether `io.of(ns)` exists |
//! | `any-log` | | acks the events `on_any` saw on this socket |
//! | `forbidden-*` | | refused by `use_middleware`; the `error` handler emits `middleware-error` |
//! | `kick` (`/admin`) | `{name}` | disconnects the `/` sockets of that name (via `fetch_sockets`) |
//! | `dyn-broadcast` (`/dyn-*`) | data | `socket.broadcast().emit("dyn-news", ..)` |
//!
//! Emitted by the server without a request: `welcome` on connection, with
//! `{name, role, id, ns, rooms, connections}`; `member-leaving` to the other
//! members of each room of a socket that is disconnecting, from the
//! `disconnecting` hook.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_socketio::extract::{
    AckSender, Args, Bin, Data, Event, Extension, SocketRef, State, TryData,
};
use tower_socketio::operators::BroadcastOperators;
use tower_socketio::{
    AckError, AckResponse, ConnectError, DisconnectReason, SocketIo, SocketIoLayer, placeholder,
};

/// Server options: short heartbeats so a silent client is noticed within a
/// second, a short connect timeout and a short default ack timeout so those
/// can be observed.
pub const PING_INTERVAL: Duration = Duration::from_millis(500);
pub const PING_TIMEOUT: Duration = Duration::from_millis(500);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);
pub const ACK_TIMEOUT: Duration = Duration::from_millis(1500);

/// The running app.
pub struct FeaturesApp {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The server, to inspect it from the test.
    pub io: SocketIo,
    /// What the server recorded.
    pub facts: Facts,
}

/// Starts the app on an ephemeral port, in a task of the current runtime.
pub async fn start() -> FeaturesApp {
    let facts = Facts::default();
    let io = build(facts.clone());
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "features app" }))
        .layer(SocketIoLayer::new(io.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("features app server failed");
    });
    FeaturesApp {
        base_url: format!("http://{addr}"),
        io,
        facts,
    }
}

/// Builds the server with every namespace and handler.
pub fn build(facts: Facts) -> SocketIo {
    let io = SocketIo::builder()
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .ack_timeout(ACK_TIMEOUT)
        .build();
    io.insert_state(facts);
    io.ns("/", on_main_connect).with(gate).with(identify);
    io.ns("/admin", on_admin_connect).with(admin_gate);
    io.dyn_ns(|name| name.starts_with("/dyn-"), on_dyn_connect)
        .with(dyn_gate);
    io
}

// ---------------------------------------------------------------------------
// Facts

/// What the server saw, shared with the test (`State<Facts>` in handlers).
#[derive(Clone, Default)]
pub struct Facts(Arc<Mutex<Log>>);

impl Facts {
    /// The log, locked.
    pub fn lock(&self) -> MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the log.
    pub fn snapshot(&self) -> Log {
        self.lock().clone()
    }

    /// Waits (polling, at most `timeout`) until `done` holds for the log;
    /// returns whether it did.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&Log) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Everything recorded, in order.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Socket id → client name.
    pub names: HashMap<String, String>,
    /// Connect middlewares that ran: (middleware, name, namespace).
    pub middleware_runs: Vec<(String, String, String)>,
    /// Connection handlers that ran.
    pub connects: Vec<Connected>,
    /// `disconnecting` hooks that ran.
    pub disconnecting: Vec<Leaving>,
    /// `disconnect` handlers that ran.
    pub disconnects: Vec<Left>,
    /// Server→client acks: one per `ask-client` request.
    pub acks: Vec<AckFact>,
    /// Broadcasts with ack: one per `broadcast-ack` request.
    pub broadcast_acks: Vec<BroadcastAckFact>,
    /// Events refused by `use_middleware`, as the `error` handler got them: (name, message).
    pub refused_events: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Connected {
    pub name: String,
    pub ns: String,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct Leaving {
    pub name: String,
    pub ns: String,
    pub reason: DisconnectReason,
    /// `socket.rooms()` in the hook, sorted.
    pub rooms: Vec<String>,
    /// `socket.connected()` in the hook.
    pub connected: bool,
}

#[derive(Debug, Clone)]
pub struct Left {
    pub name: String,
    pub ns: String,
    pub reason: DisconnectReason,
    /// `socket.rooms()` in the handler, sorted.
    pub rooms: Vec<String>,
}

/// How an ack ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// The client answered: its arguments and how many attachments came.
    Answered {
        args: Vec<Value>,
        attachments: usize,
    },
    Timeout,
    Disconnected,
}

impl AckOutcome {
    fn of(result: &Result<AckResponse, AckError>) -> Self {
        match result {
            Ok(r) => AckOutcome::Answered {
                args: r.args.clone(),
                attachments: r.attachments.len(),
            },
            Err(AckError::Timeout) => AckOutcome::Timeout,
            Err(AckError::Disconnected) => AckOutcome::Disconnected,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            AckOutcome::Answered { args, attachments } => {
                json!({ "ok": args, "attachments": attachments })
            }
            AckOutcome::Timeout => json!({ "err": "timeout" }),
            AckOutcome::Disconnected => json!({ "err": "disconnected" }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AckFact {
    pub label: String,
    pub name: String,
    pub outcome: AckOutcome,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct BroadcastAckFact {
    pub label: String,
    /// Receiver name → outcome.
    pub answers: BTreeMap<String, AckOutcome>,
    pub elapsed: Duration,
}

impl Log {
    /// What the `facts` event reports about one client.
    fn about(&self, name: &str) -> Value {
        let middlewares: Vec<Value> = self
            .middleware_runs
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(mw, _, ns)| json!({ "mw": mw, "ns": ns }))
            .collect();
        let connects: Vec<Value> = self
            .connects
            .iter()
            .filter(|c| c.name == name)
            .map(|c| json!({ "ns": c.ns, "id": c.id }))
            .collect();
        let disconnecting: Vec<Value> = self
            .disconnecting
            .iter()
            .filter(|d| d.name == name)
            .map(|d| {
                json!({
                    "ns": d.ns,
                    "reason": d.reason.as_str(),
                    "rooms": d.rooms,
                    "connected": d.connected,
                })
            })
            .collect();
        let disconnects: Vec<Value> = self
            .disconnects
            .iter()
            .filter(|d| d.name == name)
            .map(|d| json!({ "ns": d.ns, "reason": d.reason.as_str(), "rooms": d.rooms }))
            .collect();
        let acks: Vec<Value> = self
            .acks
            .iter()
            .filter(|a| a.name == name)
            .map(|a| {
                json!({
                    "label": a.label,
                    "outcome": a.outcome.to_json(),
                    "elapsed_ms": a.elapsed.as_millis() as u64,
                })
            })
            .collect();
        let refused: Vec<&String> = self
            .refused_events
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, m)| m)
            .collect();
        json!({
            "middlewares": middlewares,
            "connects": connects,
            "disconnecting": disconnecting,
            "disconnects": disconnects,
            "acks": acks,
            "refused": refused,
        })
    }

    fn name_of(&self, sid: &str) -> String {
        self.names
            .get(sid)
            .cloned()
            .unwrap_or_else(|| format!("?{sid}"))
    }
}

// ---------------------------------------------------------------------------
// Connect middlewares

/// Who the client is, set by a connect middleware and read with `Extension<User>`.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: String,
}

/// The auth payload every client sends.
#[derive(Debug, Deserialize)]
struct Auth {
    name: String,
    #[serde(default)]
    role: String,
}

fn auth_name(auth: &Value) -> String {
    auth["name"]
        .as_str()
        .map_or_else(|| auth["name"].to_string(), str::to_owned)
}

/// First middleware of `/`: refuses `token: "bad"`, with data for the client.
fn gate(
    socket: SocketRef,
    Data(auth): Data<Value>,
    State(facts): State<Facts>,
) -> Result<(), ConnectError> {
    facts
        .lock()
        .middleware_runs
        .push(("gate".into(), auth_name(&auth), socket.ns().to_owned()));
    if auth["token"] == "bad" {
        return Err(ConnectError::new("refused by middleware")
            .with_data(json!({ "code": 4001, "name": auth["name"] })));
    }
    Ok(())
}

/// Second middleware of `/` (asynchronous): stores who the client is.
async fn identify(
    socket: SocketRef,
    Data(auth): Data<Auth>,
    State(facts): State<Facts>,
) -> Result<(), ConnectError> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    facts.lock().middleware_runs.push((
        "identify".into(),
        auth.name.clone(),
        socket.ns().to_owned(),
    ));
    let role = if auth.role.is_empty() {
        "user".to_owned()
    } else {
        auth.role
    };
    socket.insert_extension(User {
        name: auth.name,
        role,
    });
    Ok(())
}

fn admin_gate(
    socket: SocketRef,
    Data(auth): Data<Value>,
    State(facts): State<Facts>,
) -> Result<(), ConnectError> {
    let name = auth_name(&auth);
    facts
        .lock()
        .middleware_runs
        .push(("admin_gate".into(), name.clone(), socket.ns().to_owned()));
    if auth["role"] != "admin" {
        return Err(ConnectError::new("admins only")
            .with_data(json!({ "required": "admin", "role": auth["role"] })));
    }
    socket.insert_extension(User {
        name,
        role: "admin".into(),
    });
    Ok(())
}

/// Shared by every dynamic child namespace.
fn dyn_gate(
    socket: SocketRef,
    Data(auth): Data<Value>,
    State(facts): State<Facts>,
) -> Result<(), ConnectError> {
    let name = auth_name(&auth);
    facts
        .lock()
        .middleware_runs
        .push(("dyn_gate".into(), name.clone(), socket.ns().to_owned()));
    if socket.ns() == "/dyn-forbidden" {
        return Err(
            ConnectError::new("forbidden namespace").with_data(json!({ "ns": socket.ns() }))
        );
    }
    socket.insert_extension(User {
        name,
        role: "user".into(),
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// Connection handlers

/// The events `on_any` saw, per socket.
#[derive(Clone, Default)]
struct AnyLog(Arc<Mutex<Vec<String>>>);

fn on_main_connect(
    socket: SocketRef,
    Extension(user): Extension<User>,
    State(facts): State<Facts>,
) {
    common_setup(&socket, &user, &facts);

    let any = AnyLog::default();
    socket.insert_extension(any.clone());
    socket.on_any(move |_socket, event, _args| {
        any.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.to_owned());
    });
    socket.on(
        "any-log",
        |ack: AckSender, Extension(any): Extension<AnyLog>| {
            let events = any.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
            ack.send(&events).ok();
        },
    );

    socket.use_middleware(|_socket, event, _args| {
        if event.starts_with("forbidden") {
            Err(format!("event {event} is forbidden"))
        } else {
            Ok(())
        }
    });
    socket.on(
        "error",
        |socket: SocketRef,
         Data(message): Data<String>,
         Extension(user): Extension<User>,
         State(facts): State<Facts>| {
            facts
                .lock()
                .refused_events
                .push((user.name.clone(), message.clone()));
            socket.emit("middleware-error", &message).ok();
        },
    );
    // Refused by the middleware above: never runs.
    socket.on("forbidden-thing", |socket: SocketRef, ack: AckSender| {
        socket.emit("should-not-run", &"forbidden-thing").ok();
        ack.send(&"should-not-run").ok();
    });

    socket.on("echo", |socket: SocketRef, args: Args, Bin(bin): Bin| {
        socket.bin(bin).emit("echo", &args).ok();
    });
    socket.on("echo-ack", |args: Args, Bin(bin): Bin, ack: AckSender| {
        ack.bin(bin).send(&args).ok();
    });
    socket.on(
        "bin-info",
        |Args(args): Args, Bin(bin): Bin, ack: AckSender, Event(event): Event| {
            let hex: Vec<String> = bin.iter().map(|b| hex(b)).collect();
            ack.send(&json!({ "event": event, "count": bin.len(), "hex": hex, "args": args }))
                .ok();
        },
    );
    socket.on("bin-from-server", |socket: SocketRef, ack: AckSender| {
        let first = Bytes::from_static(&[1, 2, 3]);
        let second = Bytes::from_static(&[255, 0]);
        socket
            .bin([first.clone(), second.clone()])
            .emit(
                "bin-data",
                &json!({
                    "name": "blob",
                    "file": placeholder(0),
                    "nested": { "list": ["x", placeholder(1)] },
                }),
            )
            .ok();
        socket
            .bin([first, second])
            .emit("bin-args", &(placeholder(0), "middle", placeholder(1)))
            .ok();
        ack.send(&"sent").ok();
    });

    socket.on("emit-null", |socket: SocketRef, ack: AckSender| {
        socket.emit("none-arg", &Option::<u8>::None).ok();
        socket.emit("null-arg", &Value::Null).ok();
        ack.send(&Value::Null).ok();
    });

    socket.on("typed", |TryData(point): TryData<Point>, ack: AckSender| {
        let answer = match point {
            Ok(p) => json!({ "ok": { "x": p.x, "y": p.y } }),
            Err(e) => json!({ "err": e.to_string() }),
        };
        ack.send(&answer).ok();
    });
    socket.on("typed-strict", |Data(p): Data<Point>, ack: AckSender| {
        ack.send(&json!({ "sum": p.x + p.y })).ok();
    });
    socket.on(
        "delayed-ack",
        |Data(req): Data<DelayedReq>, ack: AckSender| async move {
            tokio::time::sleep(Duration::from_millis(req.ms)).await;
            ack.send(&req.value).ok();
        },
    );

    socket.on("emit", on_emit);
    socket.on("volatile", on_volatile);
    socket.on("ask-client", on_ask_client);
    socket.on("broadcast-ack", on_broadcast_ack);

    socket.on(
        "fetch",
        |Data(req): Data<Selection>,
         ack: AckSender,
         io: SocketIo,
         State(facts): State<Facts>| async move {
            let answer = match select(&io, req.rooms).fetch_sockets().await {
                Ok(sockets) => {
                    let log = facts.snapshot();
                    let mut list: Vec<Value> = sockets
                        .iter()
                        .map(|s| {
                            let id = s.id.to_string();
                            json!({
                                "name": log.name_of(&id),
                                "id": id,
                                "rooms": sorted(&s.rooms),
                                "auth_name": s.handshake["auth"]["name"],
                                "local": s.local.is_some(),
                            })
                        })
                        .collect();
                    list.sort_by_key(|v| v["name"].as_str().unwrap_or_default().to_owned());
                    json!({ "sockets": list })
                }
                Err(e) => json!({ "err": e.to_string() }),
            };
            ack.send(&answer).ok();
        },
    );
    socket.on(
        "sockets-join",
        |Data(req): Data<RoomOp>, ack: AckSender, io: SocketIo| async move {
            let result = if req.rooms.is_empty() {
                io.sockets_join(req.join)
            } else {
                select(&io, req.rooms).join(req.join)
            };
            ack.send(&done(result)).ok();
        },
    );
    socket.on(
        "sockets-leave",
        |Data(req): Data<RoomOp>, ack: AckSender, io: SocketIo| async move {
            let result = if req.rooms.is_empty() {
                io.sockets_leave(req.leave)
            } else {
                select(&io, req.rooms).leave(req.leave)
            };
            ack.send(&done(result)).ok();
        },
    );
    socket.on(
        "disconnect-sockets",
        |Data(req): Data<DisconnectReq>, ack: AckSender, io: SocketIo| async move {
            let result = if req.rooms.is_empty() {
                io.disconnect_sockets(req.close)
            } else {
                select(&io, req.rooms).disconnect(req.close)
            };
            ack.send(&done(result)).ok();
        },
    );
    socket.on(
        "all-rooms",
        |ack: AckSender, io: SocketIo, State(facts): State<Facts>| async move {
            let rooms = io.all_rooms().await.unwrap_or_default();
            let count = io.server_count().await.unwrap_or_default();
            let names = facts.snapshot().names;
            let mut rooms: Vec<String> = rooms
                .iter()
                .map(|r| r.to_string())
                .filter(|r| !names.contains_key(r))
                .collect();
            rooms.sort();
            ack.send(&json!({ "rooms": rooms, "server_count": count }))
                .ok();
        },
    );
    socket.on(
        "ns-exists",
        |Data(req): Data<NsReq>, ack: AckSender, io: SocketIo| {
            ack.send(&json!({ "exists": io.of(&req.ns).is_some() }))
                .ok();
        },
    );
}

fn on_admin_connect(
    socket: SocketRef,
    Extension(user): Extension<User>,
    State(facts): State<Facts>,
) {
    common_setup(&socket, &user, &facts);
    socket.on("emit", on_emit);
    socket.on(
        "kick",
        |Data(req): Data<NameReq>,
         ack: AckSender,
         io: SocketIo,
         State(facts): State<Facts>| async move {
            let sockets = io.fetch_sockets().await.unwrap_or_default();
            let log = facts.snapshot();
            let mut kicked = 0;
            let targets = sockets
                .into_iter()
                .filter(|remote| log.name_of(&remote.id.to_string()) == req.name)
                .filter_map(|remote| remote.local);
            for socket in targets {
                socket.disconnect(false);
                kicked += 1;
            }
            ack.send(&json!({ "kicked": kicked })).ok();
        },
    );
}

/// One handler for every dynamic child namespace.
fn on_dyn_connect(socket: SocketRef, Extension(user): Extension<User>, State(facts): State<Facts>) {
    common_setup(&socket, &user, &facts);
    socket.on(
        "dyn-broadcast",
        |socket: SocketRef,
         Data(text): Data<Value>,
         Extension(user): Extension<User>,
         ack: AckSender| {
            socket
                .broadcast()
                .emit(
                    "dyn-news",
                    &json!({ "from": user.name, "ns": socket.ns(), "text": text }),
                )
                .ok();
            ack.send(&"sent").ok();
        },
    );
}

/// What every namespace has: welcome, identity, rooms, disconnects, facts.
fn common_setup(socket: &SocketRef, user: &User, facts: &Facts) {
    let connections = {
        let mut log = facts.lock();
        log.names.insert(socket.id().to_string(), user.name.clone());
        log.connects.push(Connected {
            name: user.name.clone(),
            ns: socket.ns().to_owned(),
            id: socket.id().to_string(),
        });
        log.connects.len()
    };
    socket
        .emit(
            "welcome",
            &json!({
                "name": user.name,
                "role": user.role,
                "id": socket.id().to_string(),
                "ns": socket.ns(),
                "rooms": sorted(&socket.rooms()),
                "connections": connections,
            }),
        )
        .ok();

    socket.on("ping", |ack: AckSender| {
        ack.send(&"pong").ok();
    });
    socket.on(
        "whoami",
        |socket: SocketRef, Extension(user): Extension<User>, ack: AckSender| {
            ack.send(&json!({
                "name": user.name,
                "role": user.role,
                "id": socket.id().to_string(),
                "ns": socket.ns(),
                "rooms": sorted(&socket.rooms()),
            }))
            .ok();
        },
    );
    socket.on(
        "join",
        |socket: SocketRef, Data(rooms): Data<OneOrMany>, ack: AckSender| {
            socket.join(rooms.into_vec());
            ack.send(&sorted(&socket.rooms())).ok();
        },
    );
    socket.on(
        "leave",
        |socket: SocketRef, Data(rooms): Data<OneOrMany>, ack: AckSender| {
            socket.leave(rooms.into_vec());
            ack.send(&sorted(&socket.rooms())).ok();
        },
    );
    socket.on(
        "disconnect-me",
        |socket: SocketRef, Data(close): Data<bool>| {
            socket.disconnect(close);
        },
    );
    socket.on("close-transport", |socket: SocketRef| {
        socket.session().close_gracefully();
    });
    socket.on(
        "facts",
        |Data(req): Data<NameReq>, ack: AckSender, State(facts): State<Facts>| {
            let about = facts.lock().about(&req.name);
            ack.send(&about).ok();
        },
    );

    socket.on_disconnecting(
        |socket: SocketRef,
         reason: DisconnectReason,
         Extension(user): Extension<User>,
         State(facts): State<Facts>| {
            let rooms = sorted(&socket.rooms());
            let connected = socket.connected();
            facts.lock().disconnecting.push(Leaving {
                name: user.name.clone(),
                ns: socket.ns().to_owned(),
                reason,
                rooms: rooms.clone(),
                connected,
            });
            let own = socket.id().to_string();
            for room in rooms.into_iter().filter(|r| *r != own) {
                let notice = json!({
                    "name": user.name,
                    "room": room,
                    "reason": reason.as_str(),
                    "connected": connected,
                });
                socket.to(room).emit("member-leaving", &notice).ok();
            }
        },
    );
    socket.on_disconnect(
        |socket: SocketRef,
         reason: DisconnectReason,
         Extension(user): Extension<User>,
         State(facts): State<Facts>| {
            facts.lock().disconnects.push(Left {
                name: user.name,
                ns: socket.ns().to_owned(),
                reason,
                rooms: sorted(&socket.rooms()),
            });
        },
    );
}

// ---------------------------------------------------------------------------
// Requests

#[derive(Debug, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Debug, Deserialize)]
struct DelayedReq {
    ms: u64,
    value: Value,
}

#[derive(Debug, Deserialize)]
struct NameReq {
    name: String,
}

#[derive(Debug, Deserialize)]
struct NsReq {
    ns: String,
}

#[derive(Debug, Default, Deserialize)]
struct Selection {
    #[serde(default)]
    rooms: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RoomOp {
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    join: Vec<String>,
    #[serde(default)]
    leave: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct DisconnectReq {
    #[serde(default)]
    rooms: Vec<String>,
    close: bool,
}

/// A room name or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(room) => vec![room],
            OneOrMany::Many(rooms) => rooms,
        }
    }
}

#[derive(Debug, Deserialize)]
struct EmitReq {
    op: String,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    event: String,
    #[serde(default)]
    data: Value,
    /// For `op: "ns"`: the namespace.
    #[serde(default)]
    ns: String,
}

/// Broadcasts `data` with the operator `op` names, forwarding the request's
/// binary attachments (their placeholders in `data` keep their numbers):
///
/// | op | operators |
/// | --- | --- |
/// | `to` | `socket.to(rooms)` |
/// | `within` | `socket.within(rooms)` |
/// | `broadcast` | `socket.broadcast()` |
/// | `except` | `socket.except(except)` |
/// | `to-except` | `socket.to(rooms).except(except)` |
/// | `local` | `socket.local()` |
/// | `io` | `io.of("/")` (everyone in `/`) |
/// | `io-to` | `io.to(rooms)` |
/// | `io-within` | `io.within(rooms)` |
/// | `io-except` | `io.except(except)` |
/// | `io-local` | `io.local()` |
/// | `ns` | `io.of(ns)` (another namespace, dynamic ones too) |
fn on_emit(
    socket: SocketRef,
    Data(req): Data<EmitReq>,
    Bin(bin): Bin,
    ack: AckSender,
    io: SocketIo,
) {
    let ops: Option<BroadcastOperators> = match req.op.as_str() {
        "to" => Some(socket.to(req.rooms)),
        "within" => Some(socket.within(req.rooms)),
        "broadcast" => Some(socket.broadcast()),
        "except" => Some(socket.except(req.except)),
        "to-except" => Some(socket.to(req.rooms).except(req.except)),
        "local" => Some(socket.local()),
        "io" => io.of("/"),
        "io-to" => Some(io.to(req.rooms)),
        "io-within" => Some(io.within(req.rooms)),
        "io-except" => Some(io.except(req.except)),
        "io-local" => Some(io.local()),
        "ns" => io.of(&req.ns),
        _ => None,
    };
    let answer = match ops {
        Some(ops) => match ops.bin(bin).emit(&req.event, &req.data) {
            Ok(()) => json!({ "ok": true }),
            Err(e) => json!({ "err": e.to_string() }),
        },
        None => json!({ "err": format!("no such op or namespace: {} {}", req.op, req.ns) }),
    };
    ack.send(&answer).ok();
}

#[derive(Debug, Deserialize)]
struct VolatileReq {
    /// `self` (the default) or `others`.
    #[serde(default)]
    target: String,
    count: u32,
}

/// `volatile` emits, then a regular `vol-done` that always arrives after them.
fn on_volatile(socket: SocketRef, Data(req): Data<VolatileReq>, ack: AckSender) {
    for i in 0..req.count {
        let result = if req.target == "others" {
            socket.broadcast().volatile().emit("vol", &i)
        } else {
            socket.volatile().emit("vol", &i)
        };
        result.ok();
    }
    if req.target == "others" {
        socket.broadcast().emit("vol-done", &req.count).ok();
    } else {
        socket.emit("vol-done", &req.count).ok();
    }
    ack.send(&"done").ok();
}

#[derive(Debug, Deserialize)]
struct AskReq {
    label: String,
    event: String,
    #[serde(default)]
    data: Value,
    timeout_ms: Option<u64>,
}

/// Server→client emit with ack; the request's attachments are forwarded, the
/// answer's attachments come back in the ack.
async fn on_ask_client(
    socket: SocketRef,
    Data(req): Data<AskReq>,
    Bin(bin): Bin,
    Extension(user): Extension<User>,
    State(facts): State<Facts>,
    ack: AckSender,
) {
    let started = Instant::now();
    let mut emitter = socket.bin(bin);
    if let Some(ms) = req.timeout_ms {
        emitter = emitter.timeout(Duration::from_millis(ms));
    }
    let result = match emitter.emit_with_ack(&req.event, &req.data) {
        Ok(answer) => answer.await,
        Err(e) => {
            ack.send(&json!({ "err": format!("emit failed: {e}") }))
                .ok();
            return;
        }
    };
    let elapsed = started.elapsed();
    let outcome = AckOutcome::of(&result);
    facts.lock().acks.push(AckFact {
        label: req.label,
        name: user.name,
        outcome: outcome.clone(),
        elapsed,
    });
    let mut answer = outcome.to_json();
    answer["elapsed_ms"] = json!(elapsed.as_millis() as u64);
    let attachments = result.map(|r| r.attachments).unwrap_or_default();
    // The requester may be gone (AckError::Disconnected); then this fails quietly.
    ack.bin(attachments).send(&answer).ok();
}

#[derive(Debug, Deserialize)]
struct BroadcastAckReq {
    label: String,
    /// `io` (the default: `io.within(rooms)`) or `socket` (`socket.to(rooms)`).
    #[serde(default)]
    from: String,
    #[serde(default)]
    rooms: Vec<String>,
    timeout_ms: u64,
    #[serde(default)]
    data: Value,
}

async fn on_broadcast_ack(
    socket: SocketRef,
    Data(req): Data<BroadcastAckReq>,
    State(facts): State<Facts>,
    ack: AckSender,
    io: SocketIo,
) {
    let ops = if req.from == "socket" {
        if req.rooms.is_empty() {
            socket.broadcast()
        } else {
            socket.to(req.rooms)
        }
    } else {
        select(&io, req.rooms)
    };
    let started = Instant::now();
    let answers = match ops
        .timeout(Duration::from_millis(req.timeout_ms))
        .emit_with_ack("poll", &req.data)
        .await
    {
        Ok(all) => all.await,
        Err(e) => {
            ack.send(&json!({ "err": e.to_string() })).ok();
            return;
        }
    };
    let elapsed = started.elapsed();
    let answers: BTreeMap<String, AckOutcome> = {
        let log = facts.lock();
        answers
            .iter()
            .map(|(sid, result)| (log.name_of(&sid.to_string()), AckOutcome::of(result)))
            .collect()
    };
    let json_answers: serde_json::Map<String, Value> = answers
        .iter()
        .map(|(name, outcome)| (name.clone(), outcome.to_json()))
        .collect();
    facts.lock().broadcast_acks.push(BroadcastAckFact {
        label: req.label,
        answers,
        elapsed,
    });
    ack.send(&json!({ "answers": json_answers, "elapsed_ms": elapsed.as_millis() as u64 }))
        .ok();
}

// ---------------------------------------------------------------------------
// Helpers

/// Sockets of `/` in any of `rooms`, or all of them when there are none.
fn select(io: &SocketIo, rooms: Vec<String>) -> BroadcastOperators {
    let main = io.of("/").expect("namespace / is registered");
    if rooms.is_empty() {
        main
    } else {
        main.within(rooms)
    }
}

fn done<E: std::fmt::Display>(result: Result<(), E>) -> Value {
    match result {
        Ok(()) => json!({ "ok": true }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}

fn sorted<R: ToString>(rooms: &[R]) -> Vec<String> {
    let mut rooms: Vec<String> = rooms.iter().map(ToString::to_string).collect();
    rooms.sort();
    rooms
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
