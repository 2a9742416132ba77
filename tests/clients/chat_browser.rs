//! The chat example (`examples/chat`) in a real browser: the app is built by
//! the example's own `app` function and served on a free port;
//! `tests/js/browser-chat.mjs` opens it in two headless Chromium contexts,
//! joins as alice and bob, sends a message from one and sees it in the other,
//! and writes a screenshot of both windows to `target/chat-screenshot.png`.
//!
//! The example must expose `pub fn app(io: SocketIo) -> axum::Router` (its
//! `main` serves the same app).
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`; `scripts/test`
//! installs it; `CHROMIUM=<path>` points elsewhere), Node.js 20+ and npm.

#[path = "../../examples/chat/main.rs"]
mod chat;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tower_socketio::SocketIo;

use crate::support::node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_two_browser_contexts() {
    node::check_chromium();
    node::prepare().await;
    let screenshot = std::env::var_os("SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chat-screenshot.png")
        });
    let _ = std::fs::remove_file(&screenshot);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let io = SocketIo::new();
    tokio::spawn(async move {
        axum::serve(listener, chat::app(io))
            .await
            .expect("chat server failed");
    });

    node::run_script(
        "browser-chat.mjs",
        &format!("http://{addr}"),
        Duration::from_secs(120),
    )
    .await
    .assert_passed();

    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} is not a PNG screenshot ({} bytes)",
        screenshot.display(),
        png.len()
    );
    println!("screenshot: {}", screenshot.display());
}
