//! A server for conformance test suites.
//!
//! Binds `127.0.0.1:$PORT` (default 3000), prints `listening` once bound, and serves:
//! - at `/engine.io/`, a plain Engine.IO server that echoes every message back to its sender;
//!
//! with pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1 000 000 and CORS origin `*`.
//!
//! ```text
//! PORT=3000 cargo run --example conformance
//! ```
#![allow(dead_code)]

use std::time::Duration;

use tower_http::cors::CorsLayer;
use tower_socketio::engine::{
    CloseReason, EngineConfig, EngineHandler, EngineIoLayer, Message, Session,
};

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

/// The conformance application: every endpoint above, behind permissive CORS.
pub fn app() -> axum::Router {
    let engine = EngineConfig::default()
        .path("/engine.io/")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_http_buffer_size(1_000_000);
    axum::Router::new()
        .layer(EngineIoLayer::new(Echo, engine))
        .layer(CorsLayer::permissive())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening");
    axum::serve(listener, app()).await
}
