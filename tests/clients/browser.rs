//! socket.io-client 4 in headless Chromium: `tests/js/browser-client.mjs`
//! opens a page served by the interop app (`tests/support/legacy_app.rs`),
//! which loads the client's browser bundle from the same server, and runs the
//! scenarios of `tests/js/pages/interop-scenarios.mjs` in it over the default
//! transports, WebSocket only and polling only: auth, JSON and binary both
//! ways (ArrayBuffer, typed arrays, DataView, Blob), acks both ways with
//! timeouts, namespaces, rooms and broadcasts, connect_error with data,
//! disconnect reasons, and auto-reconnection while the server goes away and
//! comes back on the same port.
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`; `scripts/test`
//! installs it; `CHROMIUM=<path>` points elsewhere), Node.js 20+ and npm.
//! `ONLY=<regex>`, `MODES=<regex>`, `VERBOSE=1` and `SCENARIO_TIMEOUT_MS` are
//! passed through to the script.

use std::time::Duration;

use crate::support::legacy_app;
use crate::support::node;

/// The script caps itself at 170 s.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_client_in_chromium() {
    node::check_chromium();
    node::prepare().await;
    let app = legacy_app::start(false).await;
    let run = node::run_script("browser-client.mjs", &app.base_url, SCRIPT_TIMEOUT).await;
    run.assert_passed();
    if std::env::var_os("ONLY").is_none() && std::env::var_os("MODES").is_none() {
        assert_eq!(
            app.generation(),
            4,
            "the server should have been restarted once per transport mode"
        );
    }
}
