//! A server for conformance test suites.
//!
//! Binds `127.0.0.1:$PORT` (default 3000), prints `listening` once bound, and serves:
//! - at `/engine.io/`, a plain Engine.IO server that echoes every message back to its sender;
//! - at `/socket.io/`, a Socket.IO server (connectTimeout 1000 ms) where namespace `/` emits
//!   `auth` with the handshake's auth at connection, answers `message` with `message-back` and
//!   the same arguments (binary included), and acks `message-with-ack` with the same arguments;
//!   namespace `/custom` emits `auth` at connection;
//!
//! both with pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1 000 000 and CORS origin `*`.
//!
//! ```text
//! PORT=3000 cargo run --example conformance
//! ```
#![allow(dead_code)]

use std::time::Duration;

use axum::serve::ListenerExt;
use serde_json::Value;
use tower_http::cors::CorsLayer;
use tower_socketio::engine::{
    CloseReason, EngineConfig, EngineHandler, EngineIoLayer, Message, Session,
};
use tower_socketio::extract::{AckSender, Args, Bin, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoBuilder, SocketIoLayer};

/// Echoes every Engine.IO message back to its sender.
pub struct Echo;

impl EngineHandler for Echo {
    type State = ();

    fn on_open(&self, _session: &Session) {}

    fn on_message(&self, _: &(), session: &Session, message: Message) {
        let _ = match message {
            Message::Text(text) => session.send_text(&text),
            Message::Binary(data) => session.send_binary(data),
        };
    }

    fn on_close(&self, _: &(), _session: &Session, _reason: CloseReason) {}
}

/// The Socket.IO half's options.
pub fn socket_io_builder() -> SocketIoBuilder {
    SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_http_buffer_size(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
}

/// The Socket.IO half.
pub fn socket_io() -> SocketIo {
    let io = socket_io_builder().build();
    register(&io);
    io
}

/// The Socket.IO half's handlers.
pub fn register(io: &SocketIo) {
    io.ns("/", |socket: SocketRef, Data(auth): Data<Value>| {
        socket.emit("auth", &auth).ok();
        socket.on(
            "message",
            |socket: SocketRef, args: Args, Bin(bin): Bin, ack: AckSender| async move {
                if !ack.is_requested() {
                    socket.bin(bin).emit("message-back", &args).ok();
                    return;
                }
                // Node's handler spreads its arguments, ack callback included, into
                // `message-back`: that emit then asks for an ack, and the client's answer
                // becomes the answer to `message`.
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
    });
    io.ns("/custom", |socket: SocketRef, Data(auth): Data<Value>| {
        socket.emit("auth", &auth).ok();
    });
}

/// The conformance application: every endpoint above, behind permissive CORS.
pub fn app() -> axum::Router {
    let engine = EngineConfig::default()
        .path("/engine.io/")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_http_buffer_size(1_000_000);
    axum::Router::new()
        .layer(EngineIoLayer::new(Echo, engine))
        .layer(SocketIoLayer::new(socket_io()))
        .layer(CorsLayer::permissive())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("listening");
    axum::serve(listener, app()).await
}
