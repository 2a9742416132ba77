//! A chat room: `cargo run --example chat`, then open http://127.0.0.1:3000 in two tabs.
//!
//! The page is served by the same axum app as Socket.IO, and the in-memory adapter carries the
//! broadcasts. Set `PORT` to listen elsewhere and `RUST_LOG=tower_socketio=debug` to watch the
//! protocol.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::Html;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tower_socketio::extract::{AckSender, Data, SocketRef, State};
use tower_socketio::{DisconnectReason, SocketIo, SocketIoLayer};
use tracing_subscriber::EnvFilter;

/// How many people are in the room.
#[derive(Clone, Default)]
struct Users(Arc<AtomicUsize>);

/// A chat message as the page sends it.
#[derive(Deserialize)]
struct Said {
    text: String,
}

/// A chat message as everyone receives it.
#[derive(Serialize)]
struct Message<'a> {
    from: &'a str,
    text: &'a str,
}

#[derive(Clone)]
struct Name(String);

fn on_connect(socket: SocketRef, State(users): State<Users>, io: SocketIo) {
    let count = users.0.fetch_add(1, Ordering::SeqCst) + 1;
    io.emit("users", &count).ok();

    socket.on(
        "join",
        |socket: SocketRef, Data(name): Data<String>, ack: AckSender| {
            let name: String = name.trim().chars().take(32).collect();
            let name = if name.is_empty() {
                "anonymous".to_owned()
            } else {
                name
            };
            socket.insert_extension(Name(name.clone()));
            ack.send(&name).ok();
            socket.broadcast().emit("joined", &name).ok();
        },
    );

    socket.on(
        "say",
        |socket: SocketRef, Data(said): Data<Said>, io: SocketIo| {
            let name = socket
                .extension::<Name>()
                .map_or_else(|| "anonymous".to_owned(), |n| n.0);
            let text: String = said.text.chars().take(2000).collect();
            io.emit(
                "said",
                &Message {
                    from: &name,
                    text: &text,
                },
            )
            .ok();
        },
    );

    socket.on("typing", |socket: SocketRef| {
        if let Some(Name(name)) = socket.extension::<Name>() {
            // Losing a typing notice is fine: volatile.
            socket.broadcast().volatile().emit("typing", &name).ok();
        }
    });

    socket.on_disconnect(
        |socket: SocketRef, reason: DisconnectReason, State(users): State<Users>, io: SocketIo| {
            let count = users.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
            io.emit("users", &count).ok();
            if let Some(Name(name)) = socket.extension::<Name>() {
                io.emit("left", &name).ok();
            }
            tracing::info!(socket = %socket.id(), %reason, "left");
        },
    );
}

/// The chat app: the page at `/`, and Socket.IO with the chat's handlers on `io`.
pub fn app(io: SocketIo) -> axum::Router {
    io.insert_state(Users::default());
    io.ns("/", on_connect);
    axum::Router::new()
        .route("/", get(|| async { Html(include_str!("index.html")) }))
        .layer(SocketIoLayer::new(io))
}

#[cfg_attr(test, allow(dead_code))] // tests/clients/chat_browser.rs includes this file
#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let io = SocketIo::new();
    let app = app(io.clone());

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("chat on http://127.0.0.1:{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            io.shutdown().await;
        })
        .await
}
