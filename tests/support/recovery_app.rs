//! A server with connection state recovery for the recovery suites.
//!
//! Namespace `/`: at connection, emits `welcome` with `{id, recovered}` (unless the auth says
//! `{quiet: true}`); `join` (room, ack)
//! joins; `set` (nick, ack) stores a nick on the socket; `get` (ack) answers
//! `{id, nick, rooms, recovered}`; `ticks` ({count, every_ms}, ack) starts a task that, every
//! `every_ms`, emits `tick` with `i` to room `r` and `direct` with `i` to the socket itself.
//!
//! Over HTTP it also serves the browser test pages of `tests/js/pages` and socket.io-client's
//! browser bundle (`browser_pages.rs`, as the interop app does), for `tests/js/browser-recovery.mjs`.

use super::browser_pages;

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tower_socketio::extract::{AckSender, Data, Extension, SocketRef};
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoLayer};

#[derive(Clone)]
struct Nick(String);

#[derive(Deserialize)]
struct Ticks {
    count: u32,
    every_ms: u64,
}

/// Serves the app on a free port; returns its base URL and the server.
pub async fn start(max_disconnection: Duration) -> (String, SocketIo) {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .connection_state_recovery(ConnectionStateRecovery {
            max_disconnection_duration: max_disconnection,
            ..Default::default()
        })
        .build();
    io.ns(
        "/",
        |socket: SocketRef, Data(auth): Data<serde_json::Value>| {
            // `{quiet: true}`: a client that is sent nothing, so it never learns an offset.
            if auth["quiet"] != json!(true) {
                let welcome =
                    json!({ "id": socket.id().to_string(), "recovered": socket.recovered() });
                socket.emit("welcome", &welcome).ok();
            }
            socket.on(
                "join",
                |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                    socket.join(room);
                    ack.send(&()).ok();
                },
            );
            socket.on(
                "set",
                |socket: SocketRef, Data(nick): Data<String>, ack: AckSender| {
                    socket.insert_extension(Nick(nick));
                    ack.send(&()).ok();
                },
            );
            socket.on(
                "get",
                |socket: SocketRef, nick: Option<Extension<Nick>>, ack: AckSender| {
                    let mut rooms: Vec<String> =
                        socket.rooms().into_iter().map(|r| r.into_owned()).collect();
                    rooms.sort();
                    ack.send(&json!({
                        "id": socket.id().to_string(),
                        "nick": nick.map(|Extension(Nick(n))| n),
                        "rooms": rooms,
                        "recovered": socket.recovered(),
                    }))
                    .ok();
                },
            );
            socket.on(
                "ticks",
                |socket: SocketRef, io: SocketIo, Data(t): Data<Ticks>, ack: AckSender| {
                    ack.send(&()).ok();
                    let id = socket.id();
                    tokio::spawn(async move {
                        for i in 0..t.count {
                            io.to("r").emit("tick", &i).ok();
                            io.to(id).emit("direct", &i).ok();
                            tokio::time::sleep(Duration::from_millis(t.every_ms)).await;
                        }
                    });
                },
            );
        },
    );
    let app = browser_pages::routes().layer(SocketIoLayer::new(io.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), io)
}
