//! The chat example (`examples/chat`) in a real browser: the app is built by
//! the example's own `server` and `app` functions and served on a free port,
//! with the Admin UI's static build on another; `tests/js/browser-chat.mjs`
//! opens the chat in two headless Chromium contexts, joins as alice and bob,
//! talks (acknowledgement marks, typing, rooms), drops alice's connection and
//! checks that what she missed arrives once she is back (recovery), looks at
//! the rooms in the Admin UI, and writes a screenshot of both chat windows to
//! `target/chat-screenshot.png`.
//!
//! The example must expose `server()`, `app(io, ui_origins)`,
//! `admin_ui_dist()` and `admin_ui_app(dist)` (its `main` serves the same).
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`; `scripts/test`
//! installs it; `CHROMIUM=<path>` points elsewhere), Node.js 20+ and npm.

#[path = "../../examples/chat/main.rs"]
mod chat;

use std::path::{Path, PathBuf};
use std::time::Duration;

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

    let dist = chat::admin_ui_dist().expect("the Admin UI's build (npm ci in tests/js)");
    let ui_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let ui_url = format!("http://{}", ui_listener.local_addr().expect("local addr"));
    tokio::spawn(async move {
        axum::serve(ui_listener, chat::admin_ui_app(dist))
            .await
            .expect("Admin UI server failed");
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let origins = vec![ui_url.parse().expect("origin")];
    tokio::spawn(async move {
        axum::serve(listener, chat::app(chat::server(), origins))
            .await
            .expect("chat server failed");
    });

    node::run_script_with_env(
        "browser-chat.mjs",
        &format!("http://{addr}"),
        Duration::from_secs(150),
        &[("UI_URL", ui_url.as_str())],
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
