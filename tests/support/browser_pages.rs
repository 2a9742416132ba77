//! What a test app serves to a browser page driven by the `tests/js`
//! browser scripts (`browser-client.mjs`, `browser-recovery.mjs`), under the
//! Socket.IO layer:
//!
//! - `/pages/{file}`: the `.html` / `.mjs` / `.js` files of `tests/js/pages`
//!   (the test pages and their scenario modules);
//! - `/assets/socket.io.min.js`: socket.io-client's browser bundle, from
//!   `tests/js/node_modules` (not vendored; `node::prepare` installs it).
//!
//! Used by the apps that serve pages (`legacy_app.rs`, `recovery_app.rs`).

use std::path::{Path, PathBuf};

use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `tests/js`.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js")
}

/// The page and bundle routes; put the app's `SocketIoLayer` around them.
pub fn routes() -> axum::Router {
    axum::Router::new()
        .route("/pages/{file}", get(page))
        .route("/assets/socket.io.min.js", get(bundle))
}

async fn page(UrlPath(file): UrlPath<String>) -> Response {
    let valid = !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    let kind = if file.ends_with(".html") {
        "text/html; charset=utf-8"
    } else if file.ends_with(".mjs") || file.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !valid {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve_file(&js_dir().join("pages").join(&file), kind, "").await
}

async fn bundle() -> Response {
    let path = js_dir()
        .join("node_modules")
        .join("socket.io-client")
        .join("dist")
        .join("socket.io.min.js");
    serve_file(
        &path,
        "text/javascript; charset=utf-8",
        " (install the JS packages: npm ci --prefix tests/js)",
    )
    .await
}

async fn serve_file(path: &Path, kind: &'static str, hint: &str) -> Response {
    match tokio::fs::read(path).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            format!("{}: {e}{hint}", path.display()),
        )
            .into_response(),
    }
}
