//! Connection state recovery with the real JS client: socket.io-client 4 under Node and in
//! headless Chromium, through the scenarios of `tests/js/pages/recovery-scenarios.mjs`. (The
//! reader that stalls until the server closes it as a slow consumer is in
//! `recovery_slow_consumer.rs`.)

use std::time::Duration;

use crate::support::node;
use crate::support::recovery_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_recovers_after_a_cut() {
    node::prepare().await;
    let (target, _io) = recovery_app::start(Duration::from_secs(120)).await;
    let (short, _short_io) = recovery_app::start(Duration::from_millis(300)).await;
    node::run_script_with_env(
        "recovery-client.mjs",
        &target,
        node::SCRIPT_TIMEOUT,
        &[("TARGET_SHORT", short.as_str())],
    )
    .await
    .assert_passed();
}

/// The same scenarios as [`js_client_recovers_after_a_cut`] (`tests/js/pages/recovery-scenarios.mjs`),
/// with socket.io-client's browser bundle in headless Chromium: `tests/js/browser-recovery.mjs`
/// opens `tests/js/pages/recovery.html` from each server (the page, the scenarios module and the
/// bundle are served by the recovery app itself), so every connection is same-origin.
///
/// Needs Debian's `chromium` (`apt-get install -y chromium`; `scripts/test` installs it;
/// `CHROMIUM=<path>` points elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_in_chromium() {
    node::check_chromium();
    node::prepare().await;
    let (target, _io) = recovery_app::start(Duration::from_secs(120)).await;
    let (short, _short_io) = recovery_app::start(Duration::from_millis(300)).await;
    node::run_script_with_env(
        "browser-recovery.mjs",
        &target,
        node::SCRIPT_TIMEOUT,
        &[("TARGET_SHORT", short.as_str())],
    )
    .await
    .assert_passed();
}
