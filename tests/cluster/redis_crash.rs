//! Connection state recovery after a crash (Redis Streams mode): a node killed with SIGKILL never
//! gets to store its sessions, yet its clients recover on another node, with every packet since
//! their offset, once and in order, because each node keeps the sessions of its connected
//! recoverable sockets in Redis while they live.
//!
//! The node that crashes runs in a process of its own: this test binary, started again on
//! [`crash_child_node`] (ignored in normal runs), which serves a Streams node and prints its URL.
#![cfg(feature = "redis")]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode};

use super::redis_streams::recover_between;
use crate::support::redis::{JsNode, RedisServer, RustNode};

/// How long a disconnected session may come back.
const WINDOW: Duration = Duration::from_secs(10);

fn streams_config(url: &str, key: &str) -> RedisAdapterConfig {
    RedisAdapterConfig::new(url)
        .mode(RedisMode::Streams)
        .key(key)
        .stream_name(key)
        .requests_timeout(Duration::from_secs(3))
}

/// A node in a child process: this binary, running [`crash_child_node`].
struct ChildNode {
    child: tokio::process::Child,
    url: String,
}

impl ChildNode {
    async fn start(redis_url: &str, key: &str) -> ChildNode {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = tokio::process::Command::new(exe)
            .args([
                "redis_crash::crash_child_node",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("TSIO_TEST_CRASHABLE", "1")
            .env("TSIO_CHILD_REDIS_URL", redis_url)
            .env("TSIO_CHILD_KEY", key)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the child node");
        let stdout = child.stdout.take().expect("the child's stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("NODE_URL=") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("the child node printed its URL");
        ChildNode { child, url }
    }
}

/// The node that crashes; only run by [`a_crashed_nodes_clients_recover_elsewhere`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of redis_crash tests"]
async fn crash_child_node() {
    let (Ok(url), Ok(key)) = (
        std::env::var("TSIO_CHILD_REDIS_URL"),
        std::env::var("TSIO_CHILD_KEY"),
    ) else {
        return;
    };
    let node = RustNode::start_with("crashing", streams_config(&url, &key), Some(WINDOW)).await;
    println!("NODE_URL={}", node.url());
    // Killed by the test, or by itself on `crash`; bounded all the same.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

/// The client is on the child node under a stream of room broadcasts from the other node; it
/// asks its node to crash (SIGKILL) and reconnects to the other node: recovered, with its id,
/// rooms and data, and every tick exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_nodes_clients_recover_elsewhere() {
    let server = RedisServer::shared();
    let key = "streams-crash";
    let survivor =
        RustNode::start_with("survivor", streams_config(&server.url(), key), Some(WINDOW)).await;
    for transports in ["websocket", "polling"] {
        let mut crashing = ChildNode::start(&server.url(), key).await;
        // The crash comes well after the join: a crash loses the changes of its last 100 ms.
        let extra = [
            ("CUT_BY", "crash"),
            ("CUT_AFTER", "100"),
            ("COUNT", "300"),
            ("EVERY_MS", "5"),
            ("TRANSPORTS", transports),
        ];
        recover_between(
            ("crashing", crashing.url.clone()),
            ("survivor", survivor.url()),
            true,
            &extra,
        )
        .await;
        let status = tokio::time::timeout(Duration::from_secs(10), crashing.child.wait())
            .await
            .expect("the crashed node's process ended")
            .expect("its status");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the node died of SIGKILL: {status:?}"
        );
    }
}

/// The same crash in a mixed cluster: the session a Rust node kept alive in Redis restores on a
/// Node node (`@socket.io/redis-streams-adapter`), in Node's own session format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_rust_nodes_clients_recover_on_a_node_node() {
    let server = RedisServer::shared();
    let key = "streams-crash-mixed";
    let survivor = JsNode::start_streams("node-survivor", &server.url(), key, Some(WINDOW)).await;
    let crashing = ChildNode::start(&server.url(), key).await;
    // The ticks end while the client is away: Node's restore loses packets broadcast while it
    // replays (its live delivery and replay overlap), which is not what this test is about.
    let extra = [
        ("CUT_BY", "crash"),
        ("CUT_AFTER", "40"),
        ("COUNT", "60"),
        ("EVERY_MS", "10"),
        ("GAP_MS", "600"),
    ];
    recover_between(
        ("crashing", crashing.url.clone()),
        ("node-survivor", survivor.url()),
        true,
        &extra,
    )
    .await;
}

/// `cmdstat_<name>:calls=N` of `INFO commandstats`.
fn calls(port: u16, name: &str) -> u64 {
    let info = crate::support::redis::command(port, &["INFO", "commandstats"]).unwrap_or_default();
    let prefix = format!("cmdstat_{name}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What keeping sessions in Redis costs: `SET`s per connected session, per burst of room
/// changes, and the size of one session's value; bounded, and printed for the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_cost_one_write_per_change_burst() {
    const SOCKETS: usize = 40;
    let server = RedisServer::start();
    let key = "streams-cost";
    let node = RustNode::start_with("n", streams_config(&server.url(), key), Some(WINDOW)).await;
    let clients = crate::support::redis::Clients::start().await;
    let names: Vec<String> = (0..SOCKETS).map(|i| format!("c{i}")).collect();
    crate::support::redis::command(server.port, &["CONFIG", "RESETSTAT"]).expect("RESETSTAT");
    for name in &names {
        clients.connect(name, &node.url()).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_connect = calls(server.port, "set");
    // Three room changes per socket in a burst: written once each.
    for name in &names {
        for room in ["a", "b", "c"] {
            clients.emit(name, "join", serde_json::json!(room)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_joins = calls(server.port, "set") - at_connect;
    // One session key, found among the keys (the stream is the other one).
    let one = (0..100)
        .filter_map(|_| crate::support::redis::command(server.port, &["RANDOMKEY"]).ok())
        .filter_map(|reply| reply.lines().nth(1).map(str::to_owned))
        .find(|key| key.starts_with("sio:session:"))
        .unwrap_or_default();
    let size = crate::support::redis::command(server.port, &["STRLEN", &one]).unwrap_or_default();
    let size = size.trim().trim_start_matches(':').to_owned();
    println!(
        "live sessions: {SOCKETS} sockets: {at_connect} SET at connect, {after_joins} SET for \
         {} joins; a session value is {} bytes (key {})",
        SOCKETS * 3,
        size,
        one.len()
    );
    assert!(
        at_connect as usize <= SOCKETS && at_connect as usize >= SOCKETS / 2,
        "about one SET per connecting socket: {at_connect}"
    );
    assert!(
        after_joins as usize <= 2 * SOCKETS,
        "room changes are coalesced: {after_joins} SETs for {} joins",
        SOCKETS * 3
    );
    drop(node);
}

/// Runs tests/js/recovery-quiet.mjs: a client that never received an event leaves `a` and
/// must recover on `b` from the start of its session.
async fn recover_without_offset(url_a: &str, url_b: &str, cut_by: &str) {
    crate::support::node::prepare().await;
    let env = [("URL_A", url_a), ("URL_B", url_b), ("CUT_BY", cut_by)];
    let run = crate::support::node::run_script_with_env(
        "recovery-quiet.mjs",
        "",
        Duration::from_secs(60),
        &env,
    )
    .await;
    let done = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "done");
    let ok = run.status.is_some_and(|s| s.success())
        && done
            .as_ref()
            .is_some_and(|d| d["ok"] == serde_json::json!(true));
    assert!(
        ok,
        "recovery without offset ({cut_by}):\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

/// socketio/socket.io#5538 in Streams mode: the session knows the stream position at which it
/// started, so a client with a pid and no offset recovers on another node, after its transport
/// closed and after its node crashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_an_offset_recovers_on_another_node() {
    let server = RedisServer::shared();
    let key = "streams-quiet";
    let config = || streams_config(&server.url(), key);
    let a = RustNode::start_with("a", config(), Some(WINDOW)).await;
    let b = RustNode::start_with("b", config(), Some(WINDOW)).await;
    recover_without_offset(&a.url(), &b.url(), "close").await;
    let crashing = ChildNode::start(&server.url(), key).await;
    recover_without_offset(&crashing.url, &b.url(), "crash").await;
}
