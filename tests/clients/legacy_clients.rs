//! socket.io-client 2.x and 3.x (and, through the same scenarios, the current
//! 4.x) in Node against the interop app (`tests/support/legacy_app.rs`): the
//! scenarios of `tests/js/pages/interop-scenarios.mjs` over the default
//! transports (polling, then the upgrade to WebSocket), WebSocket only,
//! polling only, and polling with binary as base64 (`forceBase64`),
//! auto-reconnection included (the server goes away and comes back on the
//! same port).
//!
//! - 2.x speaks Engine.IO 3 and Socket.IO protocol 4: the server has
//!   `allow_eio3(true)`;
//! - 3.x and 4.x speak Engine.IO 4 and Socket.IO protocol 5: the server has the
//!   default options (Engine.IO 3 refused), as most users run it;
//! - 4.x again with `socket.io-msgpack-parser` on both ends (feature
//!   `msgpack`, `PARSER=msgpack` for the script): what cannot apply with that
//!   parser is printed as `skip - …` with the reason.
//!
//! Needs Node.js 20+ and npm (`tests/js/node_modules` is installed with
//! `npm ci` on first use). `ONLY=<regex>` (scenarios), `MODES=<regex>`
//! (transport modes), `VERBOSE=1` and `SCENARIO_TIMEOUT_MS` are passed through
//! to the scripts.

use std::time::Duration;

use tower_socketio::parser::Parser;

use crate::support::legacy_app;
use crate::support::node;

/// The scripts cap themselves at 150 s.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Transport modes the Node scripts run (see `MODES` in interop-scenarios.mjs).
const MODES: u32 = 4;

async fn run(script: &str, allow_eio3: bool) {
    run_with(script, allow_eio3, Parser::Default, &[]).await;
}

/// [`run`] with `parser` on the server and `env` for the script.
async fn run_with(
    script: &str,
    allow_eio3: bool,
    parser: Parser,
    env: &[(&str, &str)],
) -> node::ScriptRun {
    node::prepare().await;
    let app = legacy_app::start_with_parser(allow_eio3, parser).await;
    let mut vars = vec![("RUST_SERVER", "1")];
    vars.extend_from_slice(env);
    let run = node::run_script_with_env(script, &app.base_url, SCRIPT_TIMEOUT, &vars).await;
    run.assert_passed();
    // One restart per transport mode: the server really went away and came back.
    if std::env::var_os("ONLY").is_none() && std::env::var_os("MODES").is_none() {
        assert_eq!(
            app.generation(),
            1 + MODES,
            "the server should have been restarted once per transport mode"
        );
    }
    run
}

/// socket.io-client 2.5 (Engine.IO 3) against `allow_eio3(true)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_v2_node() {
    run("legacy-v2.mjs", true).await;
}

/// socket.io-client 3.1 (Engine.IO 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_v3_node() {
    run("legacy-v3.mjs", false).await;
}

/// The current socket.io-client 4.x, same scenarios (auto-reconnection included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_v4_node() {
    run("legacy-v4.mjs", false).await;
}

/// socket.io-client 3.1 against a server that also accepts Engine.IO 3:
/// enabling v3 must not change anything for v4 clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_v3_node_with_eio3_enabled() {
    run("legacy-v3.mjs", true).await;
}

/// socket.io-client 4.x with `socket.io-msgpack-parser`, the server with
/// `Parser::MsgPack`: every transport mode, auto-reconnection included.
#[cfg(feature = "msgpack")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_v4_msgpack_node() {
    let run = run_with(
        "legacy-v4.mjs",
        false,
        Parser::MsgPack,
        &[("PARSER", "msgpack")],
    )
    .await;
    // Skips are printed with their reason, one per (mode, scenario) left out:
    // the typed-array scenario, in each mode.
    if std::env::var_os("ONLY").is_none() && std::env::var_os("MODES").is_none() {
        let skipped: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("skip - "))
            .collect();
        assert_eq!(
            skipped.len() as u32,
            MODES,
            "expected one skipped scenario per mode: {skipped:#?}"
        );
    }
}
