//! The interop app: the conformance app's Socket.IO handlers, a few more for
//! the client-interop scenarios, and a server that can go away and come back
//! on the same port, for `tests/js/pages/interop-scenarios.mjs` (run by
//! socket.io-client 2, 3 and 4 in Node, and 4 in headless Chromium).
//!
//! [`start`] serves it on `127.0.0.1:0` (with `allow_eio3` as asked: the 2.x
//! client speaks Engine.IO 3) and returns an [`InteropServer`];
//! [`start_with_parser`] does the same with another packet parser (e.g.
//! `Parser::MsgPack`, for clients with `socket.io-msgpack-parser`). Its Node
//! counterpart is `tests/js/legacy-reference-server.mjs` (default parser only).
//!
//! ## Socket.IO (path `/socket.io/`)
//!
//! Namespaces `/`, `/custom` and `/guarded` (behind a middleware that refuses
//! without `auth.token` or `query.token` `"secret"`, with data) share:
//!
//! | event | does |
//! | --- | --- |
//! | (connection) | emits `auth` (handshake auth) and `hello` `{generation, ns, query}` |
//! | `message` | emits `message-back` with the same args (binary too); with an ack, asks the client for one and answers with it (as the conformance app) |
//! | `message-with-ack` | acks the same args |
//! | `whoami` | acks `{id, ns}` |
//! | `join` / `leave` | room: joins / leaves it, acks the socket's rooms (sorted) |
//! | `relay` | `{op, room, event, data}`: `socket.to(room)` / `io.of(ns).to(room)` / `socket.broadcast()` (op `to` / `io-to` / `broadcast`) emit `event` with `data` (binary kept), acks `"sent"` |
//! | `ask` | `{event, data, timeout_ms}`: `emit_with_ack` to this socket with that timeout; acks `{ok: args}` (binary kept) or `{err: "timeout" \| "disconnected"}` |
//! | `ignore-me` | nothing, never acked |
//! | `disconnect-me` | `socket.disconnect(false)` |
//! | `close-transport` | closes the Engine.IO session |
//! | `restart-server` | `{down_ms}`: acks `"restarting"`, then the whole server goes away (listener closed, every TCP connection shut down, the `SocketIo` shut down) and a new one (generation + 1) listens on the same port `down_ms` later |
//!
//! Options: pingInterval 500 ms, pingTimeout 1000 ms (the default connect
//! timeout and ack timeout).
//!
//! ## HTTP
//!
//! - `/pages/{file}`: the files of `tests/js/pages` (the browser test page and
//!   the scenarios module);
//! - `/assets/socket.io.min.js`: socket.io-client's browser bundle, from
//!   `tests/js/node_modules` (not vendored).
//!
//! Both come from `browser_pages.rs`, shared with the recovery app.

use super::browser_pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower_socketio::extract::{AckSender, Args, Bin, Data, SocketRef, State};
use tower_socketio::parser::Parser;
use tower_socketio::{AckError, ConnectError, SocketIo, SocketIoLayer};

pub const PING_INTERVAL: Duration = Duration::from_millis(500);
pub const PING_TIMEOUT: Duration = Duration::from_millis(1000);

// ---------------------------------------------------------------------------
// Socket.IO

/// Shared with the handlers: which server this is, and how to ask for a restart.
#[derive(Clone)]
struct Control {
    generation: u32,
    restart: mpsc::UnboundedSender<Duration>,
}

/// The Socket.IO server of one generation.
fn socket_io(allow_eio3: bool, parser: Parser, control: Control) -> SocketIo {
    let io = SocketIo::builder()
        .allow_eio3(allow_eio3)
        .parser(parser)
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .build();
    io.insert_state(control);
    io.ns("/", on_connect);
    io.ns("/custom", on_connect);
    io.ns("/guarded", on_connect).with(guard);
    io
}

/// `/guarded`: `auth.token` (or, for clients without auth, `query.token`) must be "secret".
fn guard(socket: SocketRef, Data(auth): Data<Value>) -> Result<(), ConnectError> {
    let token = auth
        .get("token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| socket.handshake().query().get("token").cloned());
    if token.as_deref() == Some("secret") {
        return Ok(());
    }
    Err(ConnectError::new("not authorized")
        .with_data(json!({ "code": 4001, "hint": "token required" })))
}

fn on_connect(socket: SocketRef, Data(auth): Data<Value>, State(control): State<Control>) {
    socket.emit("auth", &auth).ok();
    socket
        .emit(
            "hello",
            &json!({
                "generation": control.generation,
                "ns": socket.ns(),
                "query": socket.handshake().query(),
            }),
        )
        .ok();

    // The conformance app's handlers.
    socket.on(
        "message",
        |socket: SocketRef, args: Args, Bin(bin): Bin, ack: AckSender| async move {
            if !ack.is_requested() {
                socket.bin(bin).emit("message-back", &args).ok();
                return;
            }
            // As Node's `socket.emit("message-back", ...args)` with the ack callback among
            // the args: message-back asks for an ack, whose answer answers "message".
            let Ok(answer) = socket.bin(bin).emit_with_ack("message-back", &args) else {
                return;
            };
            if let Ok(answer) = answer.await {
                ack.bin(answer.attachments).send(&Args(answer.args)).ok();
            }
        },
    );
    socket.on(
        "message-with-ack",
        |args: Args, Bin(bin): Bin, ack: AckSender| {
            ack.bin(bin).send(&args).ok();
        },
    );

    // The interop scenarios' handlers.
    socket.on("whoami", |socket: SocketRef, ack: AckSender| {
        ack.send(&json!({ "id": socket.id().to_string(), "ns": socket.ns() }))
            .ok();
    });
    socket.on(
        "join",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.join(room);
            ack.send(&sorted_rooms(&socket)).ok();
        },
    );
    socket.on(
        "leave",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.leave(room);
            ack.send(&sorted_rooms(&socket)).ok();
        },
    );
    socket.on("relay", on_relay);
    socket.on("ask", on_ask);
    socket.on("ignore-me", |_: SocketRef| {});
    socket.on("disconnect-me", |socket: SocketRef| {
        socket.disconnect(false);
    });
    socket.on("close-transport", |socket: SocketRef| {
        socket.session().close_gracefully();
    });
    socket.on(
        "restart-server",
        |Data(req): Data<RestartReq>, ack: AckSender, State(control): State<Control>| {
            ack.send(&"restarting").ok();
            control
                .restart
                .send(Duration::from_millis(req.down_ms))
                .ok();
        },
    );
}

fn sorted_rooms(socket: &SocketRef) -> Vec<String> {
    let mut rooms: Vec<String> = socket.rooms().iter().map(ToString::to_string).collect();
    rooms.sort();
    rooms
}

#[derive(Deserialize)]
struct RestartReq {
    down_ms: u64,
}

#[derive(Deserialize)]
struct RelayReq {
    op: String,
    #[serde(default)]
    room: Option<String>,
    event: String,
    #[serde(default)]
    data: Value,
}

fn on_relay(
    socket: SocketRef,
    Data(req): Data<RelayReq>,
    Bin(bin): Bin,
    ack: AckSender,
    io: SocketIo,
) {
    let room = req.room.unwrap_or_default();
    let ops = match req.op.as_str() {
        "to" => Some(socket.to(room)),
        "io-to" => io.of(socket.ns()).map(|ns| ns.to(room)),
        "broadcast" => Some(socket.broadcast()),
        _ => None,
    };
    let answer = match ops {
        Some(ops) => match ops.bin(bin).emit(&req.event, &req.data) {
            Ok(()) => json!("sent"),
            Err(e) => json!({ "err": e.to_string() }),
        },
        None => json!({ "err": format!("no op {}", req.op) }),
    };
    ack.send(&answer).ok();
}

#[derive(Deserialize)]
struct AskReq {
    event: String,
    #[serde(default)]
    data: Value,
    timeout_ms: u64,
}

async fn on_ask(socket: SocketRef, Data(req): Data<AskReq>, Bin(bin): Bin, ack: AckSender) {
    let sent = socket
        .bin(bin)
        .timeout(Duration::from_millis(req.timeout_ms))
        .emit_with_ack(&req.event, &req.data);
    let answer = match sent {
        Ok(answer) => answer.await,
        Err(e) => {
            ack.send(&json!({ "err": e.to_string() })).ok();
            return;
        }
    };
    match answer {
        Ok(answer) => ack
            .bin(answer.attachments)
            .send(&json!({ "ok": answer.args }))
            .ok(),
        Err(AckError::Timeout) => ack.send(&json!({ "err": "timeout" })).ok(),
        Err(AckError::Disconnected) => ack.send(&json!({ "err": "disconnected" })).ok(),
    };
}

// ---------------------------------------------------------------------------
// HTTP

/// The app of one generation: Socket.IO in front of the page routes.
fn router(io: SocketIo) -> axum::Router {
    browser_pages::routes().layer(SocketIoLayer::new(io))
}

// ---------------------------------------------------------------------------
// The server that goes away and comes back.

/// The running app. Dropping it stops everything.
pub struct InteropServer {
    /// `http://127.0.0.1:PORT` (the same for every generation).
    pub base_url: String,
    generation: Arc<AtomicU32>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl InteropServer {
    /// The generation serving now: 1, plus one per `restart-server`.
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl Drop for InteropServer {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

/// Serves the interop app on `127.0.0.1:0`, in tasks of the current runtime,
/// with the default parser.
pub async fn start(allow_eio3: bool) -> InteropServer {
    start_with_parser(allow_eio3, Parser::Default).await
}

/// [`start`] with `parser` for every generation of the server.
pub async fn start_with_parser(allow_eio3: bool, parser: Parser) -> InteropServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let generation = Arc::new(AtomicU32::new(1));
    let supervisor = tokio::spawn(supervise(listener, allow_eio3, parser, generation.clone()));
    InteropServer {
        base_url: format!("http://{addr}"),
        generation,
        supervisor,
    }
}

/// Runs one generation after the other, each until a client asks for a restart.
async fn supervise(
    mut listener: TcpListener,
    allow_eio3: bool,
    parser: Parser,
    current: Arc<AtomicU32>,
) {
    let addr = listener.local_addr().expect("local addr");
    let (restart, mut requests) = mpsc::unbounded_channel();
    let mut generation = 1;
    loop {
        let io = socket_io(
            allow_eio3,
            parser,
            Control {
                generation,
                restart: restart.clone(),
            },
        );
        let running = Running::start(listener, router(io.clone()));
        let Some(down) = requests.recv().await else {
            return;
        };
        // The ack of "restart-server" goes out first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        running.kill().await;
        io.shutdown();
        drop(io);
        tokio::time::sleep(down).await;
        while requests.try_recv().is_ok() {}
        generation += 1;
        listener = rebind(addr).await;
        current.store(generation, Ordering::SeqCst);
    }
}

/// Binds `addr` again (tokio sets SO_REUSEADDR), retrying for a few seconds.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not bind {addr} again: {last:?}");
}

/// One generation's accept loop and the connections it accepted.
struct Running {
    accept: tokio::task::JoinHandle<()>,
    conns: Conns,
}

impl Running {
    fn start(listener: TcpListener, app: axum::Router) -> Self {
        let conns = Conns::default();
        let listener = Tracking {
            listener,
            conns: conns.clone(),
        };
        let accept = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running { accept, conns }
    }

    /// Closes the listener, then shuts every connection down (upgraded
    /// WebSockets included, which live on in tasks of their own).
    async fn kill(self) {
        self.accept.abort();
        let _ = self.accept.await;
        let dups: Vec<std::net::TcpStream> = {
            let mut conns = self.conns.0.lock().unwrap_or_else(|p| p.into_inner());
            conns.1.drain().map(|(_, dup)| dup).collect()
        };
        for dup in dups {
            let _ = dup.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Every open connection of a generation: a duplicate of its socket's file
/// descriptor, to shut the connection down from outside whoever owns it.
#[derive(Clone, Default)]
struct Conns(Arc<Mutex<(u64, HashMap<u64, std::net::TcpStream>)>>);

struct Tracking {
    listener: TcpListener,
    conns: Conns,
}

impl axum::serve::Listener for Tracking {
    type Io = Tracked;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Tracked, SocketAddr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let Ok(dup) = stream.as_fd().try_clone_to_owned() else {
                continue;
            };
            let id = {
                let mut conns = self.conns.0.lock().unwrap_or_else(|p| p.into_inner());
                conns.0 += 1;
                let id = conns.0;
                conns.1.insert(id, std::net::TcpStream::from(dup));
                id
            };
            let tracked = Tracked {
                stream,
                id,
                conns: self.conns.clone(),
            };
            return (tracked, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// A connection that leaves [`Conns`] when dropped.
struct Tracked {
    stream: TcpStream,
    id: u64,
    conns: Conns,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut conns = self.conns.0.lock().unwrap_or_else(|p| p.into_inner());
        conns.1.remove(&self.id);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
