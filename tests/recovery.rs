//! Connection state recovery with the real JS client, and with a reader that stalls until the
//! server closes it as a slow consumer.

mod common;
#[path = "support/node.rs"]
mod node;
#[path = "support/recovery_app.rs"]
mod recovery_app;

use std::time::Duration;

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
