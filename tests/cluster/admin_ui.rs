//! The Admin UI across a mixed cluster (features `admin-ui` and `redis`): a Rust node and a
//! Node.js node (socket.io 4.8.4, @socket.io/redis-adapter 8.3.0, @socket.io/admin-ui 0.5.1's
//! `instrument()`, started by `tests/js/admin-ui-cluster.mjs`) on one private `redis-server`,
//! a client on each. An admin on either node sees both servers' stats and every socket of the
//! cluster, with its client id and transport, hears the other node's connections, and
//! disconnects a client living on the other node. Admin sessions kept in Redis
//! (`RedisStore`, Node's `RedisV4Store` keys) log in on every node, Rust or Node
//! (`tests/js/admin-ui-sessions.mjs`).
#![cfg(feature = "admin-ui")]

use std::time::Duration;

use tower_socketio::adapter::redis::RedisMode;
use tower_socketio::admin::{AdminUi, BasicAuth, RedisStore};

use crate::support::node;
use crate::support::redis::{RedisServer, RustNode, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_sees_a_mixed_cluster() {
    node::prepare().await;
    let server = RedisServer::shared();
    let key = "admin-ui-mixed";
    let rust = RustNode::start("r1", config(server, RedisMode::Classic).key(key)).await;
    rust.io
        .instrument(AdminUi::new().no_auth().server_id("rust-node"))
        .expect("instrument");
    rust.io.ready().await.expect("ready");
    node::run_script_with_env(
        "admin-ui-cluster.mjs",
        &rust.url(),
        Duration::from_secs(90),
        &[("REDIS_URL", &server.url()), ("KEY", key)],
    )
    .await
    .assert_passed();
    rust.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sessions_are_shared_through_redis() {
    node::prepare().await;
    let server = RedisServer::shared();
    let prefix = "admin-sessions-test";
    let rust = RustNode::start("r1", config(server, RedisMode::Classic).key(prefix)).await;
    let store = RedisStore::connect(&server.url())
        .await
        .expect("redis store")
        .prefix(prefix);
    // bcryptjs.hashSync("changeit", 10)
    let hash = "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS";
    rust.io
        .instrument(
            AdminUi::new()
                .auth(BasicAuth::bcrypt("admin", hash))
                .store(store),
        )
        .expect("instrument");
    rust.io.ready().await.expect("ready");
    node::run_script_with_env(
        "admin-ui-sessions.mjs",
        &rust.url(),
        Duration::from_secs(60),
        &[("REDIS_URL", &server.url()), ("PREFIX", prefix)],
    )
    .await
    .assert_passed();
    rust.stop();
}
