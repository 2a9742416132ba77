//! Runs the real JS clients (`engine.io-client` 6, `socket.io-client` 4) of
//! `tests/js` against the in-process conformance server (or the server named
//! by `TSIO_TARGET`), one test per harness script.
//!
//! Needs Node.js 20+ and npm; `tests/js/node_modules` is installed with
//! `npm ci` on first use. `ONLY=<regex>`, `VERBOSE=1` and
//! `SCENARIO_TIMEOUT_MS` are passed through to the scripts.

use crate::support;
use crate::support::node;

async fn run(script: &str) {
    node::prepare().await;
    let target = support::start().await;
    node::run_script(script, &target.base_url(), node::SCRIPT_TIMEOUT)
        .await
        .assert_passed();
}

/// `tests/js/engine-client.mjs` against `/engine.io/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_io_client_js() {
    run("engine-client.mjs").await;
}

/// `tests/js/socketio-client.mjs` against `/socket.io/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_js() {
    run("socketio-client.mjs").await;
}

/// `tests/js/socketio-client.mjs` with `socket.io-msgpack-parser` on both ends.
#[cfg(feature = "msgpack")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_msgpack_js() {
    use tower_http::cors::CorsLayer;
    use tower_socketio::SocketIoLayer;
    use tower_socketio::parser::Parser;

    node::prepare().await;
    let io = support::conformance::socket_io_builder()
        .parser(Parser::MsgPack)
        .build();
    support::conformance::register(&io);
    let app = axum::Router::new()
        .layer(SocketIoLayer::new(io))
        .layer(CorsLayer::permissive());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    node::run_script_with_env(
        "socketio-client.mjs",
        &format!("http://{addr}"),
        node::SCRIPT_TIMEOUT,
        &[("PARSER", "msgpack")],
    )
    .await
    .assert_passed();
}
