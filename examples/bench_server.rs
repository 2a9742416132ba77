//! The benchmark server: tower-socketio with the handlers the load generator drives.
//!
//! `tests/js/bench-server.mjs` is the same server on Node's `socket.io` 4.8; `scripts/compare`
//! runs both side by side (see `benches/README.md`).
//!
//! Binds `127.0.0.1:$PORT` (default 3000, accept queue 511 as Node's), prints `listening` once
//! bound, and serves Socket.IO at `/socket.io/` with every option at its default (pingInterval
//! 25 s, pingTimeout 20 s, both transports, upgrades allowed). Namespace `/`:
//! - `echo` (one argument): emits `echo` back to the sender with that argument;
//! - `ack` (one argument, with an ack): acknowledges with that argument;
//! - `join` (a room name, ack optional): joins that room, then acknowledges with no argument;
//! - `broadcast` (a room name, then one argument): emits `bcast` with that argument to every
//!   socket in the room.
//!
//! Warnings from the crate (a slow consumer disconnected, a protocol violation) go to stderr;
//! `RUST_LOG` overrides the filter (default `tower_socketio=warn`).
//!
//! With the `admin-ui` feature, `ADMIN_UI=production` or `ADMIN_UI=development` instruments
//! the server for the Admin UI in that mode (no admin connected), to measure what the
//! instrumentation costs (`scripts/compare --servers rust,rust-admin`).
//!
//! With the `metrics` feature, `METRICS=prometheus` installs Prometheus' recorder
//! (`metrics-exporter-prometheus`, nothing scrapes it) to measure what recording costs
//! (`scripts/compare --servers rust,rust-metrics`).
//!
//! ```text
//! cargo build --release --example bench_server
//! PORT=3000 target/release/examples/bench_server
//! ```

use axum::serve::ListenerExt;
use serde_json::Value;
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};
use tracing_subscriber::EnvFilter;

fn on_connect(socket: SocketRef) {
    socket.on("echo", |socket: SocketRef, Data(data): Data<Value>| {
        socket.emit("echo", &data).ok();
    });
    socket.on("ack", |Data(data): Data<Value>, ack: AckSender| {
        ack.send(&data).ok();
    });
    socket.on(
        "join",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.join(room);
            // An empty tuple: no argument, as Node's `cb()`.
            ack.send(&()).ok();
        },
    );
    socket.on(
        "broadcast",
        |io: SocketIo, Data((room, data)): Data<(String, Value)>| {
            io.to(room).emit("bcast", &data).ok();
        },
    );
}

/// Instruments the server for the Admin UI when `ADMIN_UI` asks for it.
#[cfg(feature = "admin-ui")]
fn instrument(io: &SocketIo) {
    use tower_socketio::admin::{AdminUi, Mode};
    let mode = match std::env::var("ADMIN_UI").as_deref() {
        Ok("production") => Mode::Production,
        Ok("development") => Mode::Development,
        _ => return,
    };
    io.instrument(AdminUi::new().no_auth().mode(mode))
        .expect("instrument");
    eprintln!("instrumented for the Admin UI ({mode:?})");
}

#[cfg(not(feature = "admin-ui"))]
fn instrument(_: &SocketIo) {
    if std::env::var_os("ADMIN_UI").is_some() {
        eprintln!("ADMIN_UI is ignored: built without the admin-ui feature");
    }
}

/// Installs Prometheus' recorder when `METRICS=prometheus` asks for it (before the server is
/// built: it looks its handles up once).
#[cfg(feature = "metrics")]
fn install_metrics() {
    if std::env::var("METRICS").as_deref() != Ok("prometheus") {
        return;
    }
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("install the Prometheus recorder");
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
    eprintln!("recording metrics (Prometheus)");
}

#[cfg(not(feature = "metrics"))]
fn install_metrics() {
    if std::env::var_os("METRICS").is_some() {
        eprintln!("METRICS is ignored: built without the metrics feature");
    }
}

/// The server: on the in-memory adapter, or with `REDIS_URL` on the Redis adapter (classic
/// mode, as Node's `createAdapter`), for the cross-node scenario of `scripts/compare`.
#[cfg(feature = "redis")]
async fn build_server() -> std::io::Result<SocketIo> {
    use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig};
    let Ok(url) = std::env::var("REDIS_URL") else {
        return Ok(SocketIo::new());
    };
    let adapter = RedisAdapter::connect(RedisAdapterConfig::new(&url))
        .await
        .map_err(std::io::Error::other)?;
    eprintln!("on the Redis adapter at {url}");
    Ok(SocketIo::builder().adapter(adapter).build())
}

#[cfg(not(feature = "redis"))]
async fn build_server() -> std::io::Result<SocketIo> {
    if std::env::var_os("REDIS_URL").is_some() {
        eprintln!("REDIS_URL is ignored: built without the redis feature");
    }
    Ok(SocketIo::new())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("tower_socketio=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);

    install_metrics();
    let io = build_server().await?;
    io.ns("/", on_connect);
    instrument(&io);
    let app = axum::Router::new().layer(SocketIoLayer::new(io));

    // The accept queue of Node's `server.listen()`: 511. `TcpListener::bind` would give 128
    // (mio copies std), and bursts of connections overflow it: dropped SYNs, retried by the
    // client a second later.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    // Node's http server sets TCP_NODELAY on every connection; so do we.
    let listener = socket.listen(511)?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("listening");
    axum::serve(listener, app).await
}
