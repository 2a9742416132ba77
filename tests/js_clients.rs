//! Runs the real JS clients (`engine.io-client` 6, `socket.io-client` 4) of
//! `tests/js` against the in-process conformance server (or the server named
//! by `TSIO_TARGET`), one test per harness script.
//!
//! Needs Node.js 20+ and npm; `tests/js/node_modules` is installed with
//! `npm ci` on first use. `ONLY=<regex>`, `VERBOSE=1` and
//! `SCENARIO_TIMEOUT_MS` are passed through to the scripts.

mod common;
#[path = "support/node.rs"]
mod node;

async fn run(script: &str) {
    node::prepare().await;
    let target = common::start().await;
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
