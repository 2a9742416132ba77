//! The Admin UI instrumentation (`admin-ui` feature) against the real UI and against Node:
//!
//! - `admin_ui_in_chromium`: the UI that `@socket.io/admin-ui` 0.5.1 ships (its `ui/dist`
//!   folder, from `tests/js/node_modules`) is served on one port and our instrumented server
//!   on another (so the CORS set-up of the docs is what lets the UI in);
//!   `tests/js/admin-ui-browser.mjs` logs in through the UI's form in headless Chromium,
//!   checks that the sockets, their rooms and the server stats appear, clicks a socket's
//!   disconnect button and checks that the client was disconnected, and writes the dashboard
//!   to `target/admin-ui-screenshot.png`; `SCREENSHOT=docs/admin-ui.png` refreshes the
//!   README's picture (a test run leaves the tracked copy alone).
//! - `admin_ui_events_match_node`: `tests/js/admin-ui-compare.mjs` runs Node's `instrument()`
//!   (socket.io 4.8.4, @socket.io/admin-ui 0.5.1) in-process and drives the same clients
//!   against both servers with an admin client recording everything; every event's field
//!   names and types must match.
//! - `admin_ui_auth`: `tests/js/admin-ui-auth.mjs`: wrong password, unknown user and no
//!   credentials are refused; the right ones get a session id that works on its own; a
//!   read-only UI is told it has no action and its actions do nothing; malformed actions are
//!   ignored and the admin connection carries on.
//!
//! Needs Node.js 20+ and npm; the first also Debian's `chromium` (`scripts/test` installs
//! both).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tower_http::cors::CorsLayer;
use tower_socketio::admin::{AdminUi, BasicAuth};
use tower_socketio::extract::{Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

use crate::support::node;

/// bcrypt of "changeit" (`require("bcryptjs").hashSync("changeit", 10)`).
const HASH: &str = "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS";

/// The test app's handlers, the same as the Node server's in `admin-ui-compare.mjs`.
fn handlers(io: &SocketIo) {
    io.ns("/", |socket: SocketRef| {
        if let Some(room) = socket.handshake().query().get("room").cloned() {
            socket.join(room);
        }
        socket.on("join", |socket: SocketRef, Data(room): Data<String>| {
            socket.join(room);
        });
        socket.on("leave", |socket: SocketRef, Data(room): Data<String>| {
            socket.leave(room);
        });
        socket.on("set", |socket: SocketRef, Data(value): Data<Value>| {
            let _ = socket.set_data(&serde_json::json!({ "value": value }));
        });
        socket.on("echo", |socket: SocketRef, Data(value): Data<Value>| {
            let _ = socket.emit("echo", &value);
        });
        socket.on("shout", |io: SocketIo, Data(value): Data<Value>| {
            let _ = io.emit("shout", &value);
        });
    });
}

/// Serves `io` (instrumented by the caller) on a free port, letting `ui_origin` in with
/// credentials; returns its base URL.
async fn serve(io: SocketIo, ui_origin: Option<&str>) -> String {
    let mut app = axum::Router::new().layer(SocketIoLayer::new(io));
    if let Some(origin) = ui_origin {
        let cors = CorsLayer::new()
            .allow_origin(HeaderValue::from_str(origin).expect("origin"))
            .allow_methods([Method::GET, Method::POST])
            .allow_credentials(true);
        app = app.layer(cors);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .expect("server failed");
    });
    format!("http://{addr}")
}

/// The UI's static build, as the npm package ships it.
fn ui_dist() -> PathBuf {
    node::js_dir().join("node_modules/@socket.io/admin-ui/ui/dist")
}

/// Serves the UI's files on a free port; returns its origin.
async fn serve_ui() -> String {
    async fn file(path: Option<UrlPath<String>>) -> Response {
        let rel = path.map_or_else(|| "index.html".to_owned(), |UrlPath(p)| p);
        if rel.split('/').any(|part| part == ".." || part.is_empty()) {
            return StatusCode::NOT_FOUND.into_response();
        }
        let full = ui_dist().join(&rel);
        let Ok(bytes) = tokio::fs::read(&full).await else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mime = match full.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("woff2") => "font/woff2",
            Some("woff") => "font/woff",
            Some("ttf") => "font/ttf",
            _ => "application/octet-stream",
        };
        ([(header::CONTENT_TYPE, mime)], bytes).into_response()
    }
    assert!(
        ui_dist().join("index.html").is_file(),
        "no UI build at {} (npm ci in tests/js)",
        ui_dist().display()
    );
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| file(None)))
        .route(
            "/{*path}",
            axum::routing::get(|path: UrlPath<String>| file(Some(path))),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("UI server failed") });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_in_chromium() {
    node::check_chromium();
    node::prepare().await;
    let screenshot = std::env::var_os("SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/admin-ui-screenshot.png")
        });
    let _ = std::fs::remove_file(&screenshot);
    let ui = serve_ui().await;
    let io = SocketIo::new();
    handlers(&io);
    io.instrument(AdminUi::new().auth(BasicAuth::bcrypt("admin", HASH)))
        .expect("instrument");
    let target = serve(io, Some(&ui)).await;
    let shot = screenshot.to_string_lossy().into_owned();
    node::run_script_with_env(
        "admin-ui-browser.mjs",
        &target,
        Duration::from_secs(150),
        &[("UI_URL", &ui), ("SCREENSHOT", &shot)],
    )
    .await
    .assert_passed();
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} is not a screenshot",
        screenshot.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_events_match_node() {
    node::prepare().await;
    let io = SocketIo::new();
    handlers(&io);
    io.instrument(AdminUi::new().no_auth()).expect("instrument");
    let target = serve(io, None).await;
    node::run_script("admin-ui-compare.mjs", &target, Duration::from_secs(90))
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_auth() {
    node::prepare().await;
    let io = SocketIo::new();
    handlers(&io);
    io.instrument(AdminUi::new().auth(BasicAuth::bcrypt("admin", HASH)))
        .expect("instrument");
    let target = serve(io, None).await;
    let readonly = SocketIo::new();
    handlers(&readonly);
    readonly
        .instrument(AdminUi::new().no_auth().readonly(true))
        .expect("instrument");
    let readonly_target = serve(readonly, None).await;
    node::run_script_with_env(
        "admin-ui-auth.mjs",
        &target,
        Duration::from_secs(60),
        &[("READONLY_TARGET", &readonly_target)],
    )
    .await
    .assert_passed();
}

#[tokio::test]
async fn instrument_refuses_bad_options() {
    use tower_socketio::admin::InstrumentError;
    let io = SocketIo::new();
    assert!(matches!(
        io.instrument(AdminUi::new()),
        Err(InstrumentError::AuthNotChosen)
    ));
    assert!(matches!(
        io.instrument(AdminUi::new().auth(BasicAuth::bcrypt("admin", "changeit"))),
        Err(InstrumentError::InvalidHash(_))
    ));
    io.instrument(AdminUi::new().no_auth()).expect("first");
    assert!(matches!(
        io.instrument(AdminUi::new().no_auth()),
        Err(InstrumentError::AlreadyInstrumented(_))
    ));
}
