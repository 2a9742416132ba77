//! A chat: `cargo run --example chat`, then open http://127.0.0.1:3000 in two tabs.
//!
//! Names, rooms, typing notices, join and leave notices, a mark on each message once the server
//! acknowledged it, and connection state recovery: drop a tab's connection with its "go
//! offline" button, talk in the other tab, reconnect, and the missed messages appear.
//!
//! The page is one static file served by the same axum app as Socket.IO, and the in-memory
//! adapter carries the broadcasts. Beside it runs the Socket.IO Admin UI's server side: the
//! example prints where to open the UI (the static build that `@socket.io/admin-ui` ships, when
//! `tests/js` has its npm packages installed, else the hosted UI at https://admin.socket.io).
//!
//! Set `PORT` to listen elsewhere (the Admin UI's files go on `PORT + 1`) and
//! `RUST_LOG=tower_socketio=debug` to watch the protocol.

mod handlers;

use std::path::PathBuf;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use http::{HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_socketio::admin::AdminUi;
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoLayer};
use tracing_subscriber::EnvFilter;

/// The chat's server: connection state recovery on, so a tab that loses its connection for up to
/// two minutes gets its session and what it missed back.
pub fn server() -> SocketIo {
    SocketIo::builder()
        .connection_state_recovery(ConnectionStateRecovery {
            max_disconnection_duration: Duration::from_secs(120),
            ..Default::default()
        })
        .build()
}

/// The chat app: the page at `/`, Socket.IO with the chat's handlers on `io`, and the Admin
/// UI's server side (namespace `/admin`, no login: a local demo), which lets the UI's origins in.
pub fn app(io: SocketIo, ui_origins: Vec<HeaderValue>) -> axum::Router {
    io.insert_state(handlers::Online::default());
    io.ns("/", handlers::on_connect);
    if let Err(err) = io.instrument(AdminUi::new().no_auth()) {
        tracing::warn!(%err, "no Admin UI");
    }
    // The UI runs on another origin and polls with credentials: it needs its exact origin back.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(ui_origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_credentials(true);
    axum::Router::new()
        .route("/", get(|| async { Html(include_str!("index.html")) }))
        .layer(SocketIoLayer::new(io))
        .layer(cors)
}

/// Where the Admin UI's static build is, if anywhere: `ADMIN_UI_DIST`, or the npm package
/// installed for this repository's tests (`npm ci` in `tests/js`, which `scripts/test` runs).
pub fn admin_ui_dist() -> Option<PathBuf> {
    let dir = std::env::var_os("ADMIN_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/js/node_modules/@socket.io/admin-ui/ui/dist")
        });
    dir.join("index.html").is_file().then_some(dir)
}

/// Serves the Admin UI's static build, as admin.socket.io would.
pub fn admin_ui_app(dist: PathBuf) -> axum::Router {
    axum::Router::new().fallback_service(ServeDir::new(dist))
}

#[cfg_attr(test, allow(dead_code))] // tests/clients/chat_browser.rs includes this file
#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let ui_port = port.wrapping_add(1);
    let local_ui = format!("http://127.0.0.1:{ui_port}");
    let origins = [local_ui.as_str(), "https://admin.socket.io"]
        .into_iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();

    let io = server();
    let app = app(io.clone(), origins);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let chat = format!("http://127.0.0.1:{port}");
    println!("chat:     {chat}   (open it in two tabs)");

    if let Some(dist) = admin_ui_dist() {
        let ui_listener = tokio::net::TcpListener::bind(("127.0.0.1", ui_port)).await?;
        tokio::spawn(async move { axum::serve(ui_listener, admin_ui_app(dist)).await });
        println!("admin UI: {local_ui}   (server URL {chat}, no login)");
    } else {
        println!(
            "admin UI: https://admin.socket.io   (server URL {chat}, no login; \
             or `npm ci` in tests/js to serve the UI locally on {local_ui})"
        );
    }

    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            io.shutdown().await;
        })
        .await
}
