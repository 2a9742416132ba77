//! A cluster without sticky sessions (feature `no-sticky`): three Rust nodes on one private
//! Redis, behind a round-robin proxy with no affinity (tests/support/round_robin.rs), so the
//! requests of every session are spread over every node. Real `socket.io-client` 4.8 in Node
//! (tests/js/no-sticky-clients.mjs) in each transport mode; then the failure and security
//! rules of the internal hop on raw HTTP.
#![cfg(all(feature = "redis", feature = "no-sticky"))]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig};
use tower_socketio::engine::{Forwarding, NodeId};
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

use crate::support::http;
use crate::support::redis::{JsProc, RedisServer};
use crate::support::round_robin::RoundRobin;

const SECRET: &str = "no-sticky test secret: 32 bytes or more, really";
const PING_INTERVAL: Duration = Duration::from_millis(400);
const PING_TIMEOUT: Duration = Duration::from_millis(2000);

/// A node on a runtime of its own, so killing it ends everything it runs at once (its
/// connections, its internal listener, its Redis connections), as a dead process would.
pub(crate) struct TestNode {
    name: String,
    pub(crate) addr: SocketAddr,
    internal: SocketAddr,
    node: NodeId,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestNode {
    async fn start(name: &str, redis_url: &str, key: &str, ping: Duration) -> TestNode {
        TestNode::start_with(name, redis_url, key, ping, true).await
    }

    /// A node; without `forwarding`, an ordinary (sticky) cluster node.
    pub(crate) async fn start_with(
        name: &str,
        redis_url: &str,
        key: &str,
        ping: Duration,
        forwarding: bool,
    ) -> TestNode {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("node runtime");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (me, url, key) = (name.to_string(), redis_url.to_string(), key.to_string());
        runtime.spawn(async move {
            let config = RedisAdapterConfig::new(url)
                .key(key)
                .requests_timeout(Duration::from_secs(2));
            let adapter = RedisAdapter::connect(config).await.expect("redis adapter");
            let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let mut io = SocketIo::builder()
                .adapter(adapter)
                .ping_interval(ping)
                .ping_timeout(PING_TIMEOUT.max(ping));
            if forwarding {
                io = io.without_sticky_sessions(Forwarding::new(SECRET).listen(listen));
            }
            let io = io.build();
            let name = me.clone();
            let handle = io.clone();
            io.ns("/", move |socket: SocketRef| {
                on_connect(socket, name.clone(), handle.clone())
            });
            let app = crate::support::browser_pages::routes().layer(SocketIoLayer::new(io.clone()));
            io.ready().await.expect("adapter ready");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (node, internal) = match io.forwarding_node() {
                Some(identity) => identity,
                None if !forwarding => ("none".parse().unwrap(), addr),
                None => panic!("no forwarding listener"),
            };
            let _ = tx.send((addr, node, internal));
            let _ = axum::serve(listener, app).await;
        });
        let (addr, node, internal) = rx.await.expect("node started");
        TestNode {
            name: name.to_string(),
            addr,
            internal,
            node,
            runtime: Some(runtime),
        }
    }

    /// Ends the node at once, like a killed process.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What each socket does: `echo` acks its argument with the socket's own count of echoes so
/// far (ordering is visible), `stream` sends `n` items, `whoami` names the node, `join` and
/// `bcast` work rooms across the cluster.
fn on_connect(socket: SocketRef, node: String, io: SocketIo) {
    let seen = Arc::new(AtomicU64::new(0));
    socket.on("echo", move |Data(i): Data<u64>, ack: AckSender| {
        let seq = seen.fetch_add(1, Ordering::SeqCst);
        ack.send(&[i, seq]).ok();
    });
    socket.on(
        "stream",
        |socket: SocketRef, Data(n): Data<u64>, ack: AckSender| {
            ack.send(&n).ok();
            for i in 0..n.min(10_000) {
                socket.emit("item", &i).ok();
            }
        },
    );
    socket.on("whoami", move |ack: AckSender| {
        ack.send(&node).ok();
    });
    socket.on(
        "join",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.join(room);
            ack.send(&()).ok();
        },
    );
    socket.on(
        "bcast",
        move |Data((room, tag)): Data<(String, String)>, ack: AckSender| {
            io.to(room).emit("bcast", &tag).ok();
            ack.send(&()).ok();
        },
    );
}

pub(crate) struct Cluster {
    nodes: Vec<TestNode>,
    proxy: RoundRobin,
}

impl Cluster {
    async fn start(redis: &RedisServer, key: &str) -> Cluster {
        Cluster::start_with(redis, key, PING_INTERVAL).await
    }

    pub(crate) async fn start_with(redis: &RedisServer, key: &str, ping: Duration) -> Cluster {
        // `NO_STICKY_LOG=tower_socketio=debug` shows what the nodes do.
        if let Ok(filter) = std::env::var("NO_STICKY_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let mut nodes = Vec::new();
        for name in ["a", "b", "c"] {
            nodes.push(TestNode::start(name, &redis.url(), key, ping).await);
        }
        let proxy = RoundRobin::start(nodes.iter().map(|n| n.addr).collect()).await;
        Cluster { nodes, proxy }
    }

    pub(crate) fn node(&self, name: &str) -> &TestNode {
        self.nodes.iter().find(|n| n.name == name).expect("node")
    }

    fn kill(&mut self, name: &str) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("node");
        self.proxy.remove(node.addr);
        node.kill();
    }
}

async fn emit(clients: &JsProc, name: &str, event: &str, args: Value) -> Value {
    clients
        .request(
            "emit",
            json!({ "name": name, "event": event, "args": args }),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {event}: {e}"))
}

/// 200 acks sent at once come back in order, each answered after exactly the ones before it.
async fn check_acks(clients: &JsProc, name: &str, count: u64) {
    let arrived = clients
        .request("acks", json!({ "name": name, "count": count }))
        .await
        .unwrap_or_else(|e| panic!("{name}: acks: {e}"));
    let arrived = arrived.as_array().expect("acks");
    assert_eq!(arrived.len() as u64, count, "{name}: every ack");
    let first_seq = arrived[0][1][1].as_u64().expect("seq");
    for (k, pair) in arrived.iter().enumerate() {
        assert_eq!(pair[0], json!(k), "{name}: acks in order: {arrived:?}");
        assert_eq!(
            pair[1][0],
            json!(k),
            "{name}: each ack answers its own emit"
        );
        assert_eq!(
            pair[1][1],
            json!(first_seq + k as u64),
            "{name}: the server got the emits in order"
        );
    }
}

async fn check_stream(clients: &JsProc, name: &str, count: u64) {
    let items = clients
        .request("stream", json!({ "name": name, "count": count }))
        .await
        .unwrap_or_else(|e| panic!("{name}: stream: {e}"));
    let expected: Vec<u64> = (0..count).collect();
    assert_eq!(items, json!(expected), "{name}: server emits in order");
}

fn bcast_count(clients: &JsProc, name: &str, tag: &str) -> usize {
    clients
        .events
        .snapshot()
        .iter()
        .filter(|e| e["event"] == "recv" && e["client"] == name && e["args"][0] == tag)
        .count()
}

/// Where the clients run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    Node,
    Chromium,
}

async fn spawn_clients(driver: Driver, mode: &str, cluster: &Cluster) -> JsProc {
    match driver {
        Driver::Node => JsProc::spawn("no-sticky-clients.mjs", &format!("node-{mode}"), &[]).await,
        Driver::Chromium => {
            crate::support::node::check_chromium();
            let clients = JsProc::spawn(
                "no-sticky-browser.mjs",
                &format!("chromium-{mode}"),
                &[("TARGET", cluster.proxy.url())],
            )
            .await;
            clients
                .events
                .wait_for("the page", Duration::from_secs(40), |events| {
                    events.iter().any(|e| e["event"] == "ready")
                })
                .await;
            clients
        }
    }
}

/// The scenario, for one transport mode.
async fn scenario(mode: &str, driver: Driver) {
    scenario_on(mode, driver, RedisServer::shared(), false).await;
}

/// The scenario on `redis`; with `restart`, Redis restarts (its data lost) once the clients
/// are connected and have exchanged their first acks.
async fn scenario_on(mode: &str, driver: Driver, redis: &RedisServer, restart: bool) {
    let key = format!("no-sticky-{mode}-{}", driver == Driver::Chromium);
    let mut cluster = Cluster::start(redis, &key).await;
    let clients = spawn_clients(driver, mode, &cluster).await;
    let expected_transport = match mode {
        "default" | "websocket" => "websocket",
        _ => "polling",
    };

    // Connect clients until the sessions live on at least two nodes. Each client makes the
    // same requests in the same order, so a request to no session before each handshake
    // shifts where the next one lands.
    let mut names = Vec::new();
    let mut owners = std::collections::BTreeMap::new();
    for i in 0..9 {
        let name = format!("{mode}-{i}");
        let proxy = cluster.proxy.addr.to_string();
        for _ in 0..i % 3 {
            http::send(&proxy, "GET", "/health", &[], b"")
                .await
                .expect("proxy");
        }
        let connected = clients
            .request(
                "connect",
                json!({ "name": name, "url": cluster.proxy.url(), "mode": mode }),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: connect: {e}"));
        assert_eq!(
            connected["transport"], expected_transport,
            "{name}: {connected}"
        );
        let owner = emit(&clients, &name, "whoami", json!([])).await;
        owners.insert(name.clone(), owner.as_str().expect("node name").to_string());
        names.push(name);
        let distinct: BTreeSet<&String> = owners.values().collect();
        if names.len() >= 3 && distinct.len() >= 2 {
            break;
        }
    }
    let distinct: BTreeSet<&String> = owners.values().collect();
    assert!(distinct.len() >= 2, "sessions on one node only: {owners:?}");

    for name in &names {
        check_acks(&clients, name, 200).await;
        check_stream(&clients, name, 100).await;
    }

    if restart {
        redis.restart();
        // Sessions go on through the restart: forwarding does not go through Redis.
        for name in &names {
            check_acks(&clients, name, 200).await;
        }
    }

    // Idle for several ping intervals: the heartbeat crosses the cluster too.
    let idle = clients
        .request(
            "idle",
            json!({ "name": names[0], "ms": 6 * PING_INTERVAL.as_millis() as u64 }),
        )
        .await
        .expect("idle");
    assert!(idle["pings"].as_u64().unwrap() >= 4, "{idle}");
    assert_eq!(idle["disconnects"], 0, "{idle}");
    assert_eq!(idle["transport"], expected_transport, "{idle}");
    for name in &names {
        let state = clients
            .request("state", json!({ "name": name }))
            .await
            .unwrap();
        assert_eq!(state["disconnects"], 0, "{name}: {state}");
        assert_eq!(state["connects"], 1, "{name}: {state}");
    }

    // Rooms and broadcasts across nodes, exactly once each.
    let (members, outsider) = names.split_at(names.len() - 1);
    for name in members {
        emit(&clients, name, "join", json!(["room-1"])).await;
    }
    if restart {
        wait_for_broadcasts(&clients, members).await;
    }
    emit(&clients, &outsider[0], "bcast", json!(["room-1", "t1"])).await;
    emit(&clients, &members[0], "bcast", json!(["room-1", "t2"])).await;
    for tag in ["t1", "t2"] {
        let what = format!("{tag} on every member");
        clients
            .events
            .wait_for(&what, Duration::from_secs(5), |events| {
                members.iter().all(|m| {
                    events
                        .iter()
                        .any(|e| e["event"] == "recv" && e["client"] == *m && e["args"][0] == tag)
                })
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for name in members {
        assert_eq!(bcast_count(&clients, name, "t1"), 1, "{name}: t1 once");
        assert_eq!(bcast_count(&clients, name, "t2"), 1, "{name}: t2 once");
    }
    assert_eq!(bcast_count(&clients, &outsider[0], "t1"), 0, "not a member");

    // Every node served requests of these sessions.
    for (backend, served) in cluster.proxy.served() {
        assert!(
            served > 0,
            "{backend} got nothing: {:?}",
            cluster.proxy.served()
        );
    }

    // The node holding the first client's session dies: it reconnects to a live node and
    // works again; so does every other client.
    let victim = names[0].clone();
    let old_sid = clients
        .request("state", json!({ "name": victim }))
        .await
        .unwrap()["sid"]
        .clone();
    let owner = owners[&victim].clone();
    cluster.kill(&owner);
    clients
        .events
        .wait_for("the victim reconnects", Duration::from_secs(10), |events| {
            events
                .iter()
                .any(|e| e["event"] == "connect" && e["client"] == victim && e["sid"] != old_sid)
        })
        .await;
    for name in &names {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = clients
                .request("state", json!({ "name": name }))
                .await
                .unwrap();
            if state["connected"] == true {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not reconnect: {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let now = emit(&clients, name, "whoami", json!([])).await;
        assert_ne!(now, json!(owner), "{name} is on a live node");
        check_acks(&clients, name, 20).await;
    }
}

/// After a Redis restart the nodes resubscribe: probes go out until one reaches every member.
async fn wait_for_broadcasts(clients: &JsProc, members: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in 0.. {
        let tag = format!("probe-{k}");
        emit(clients, &members[0], "bcast", json!(["room-1", tag])).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if members.iter().all(|m| bcast_count(clients, m, &tag) > 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no broadcast crossed the cluster after the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_polling_then_upgrade() {
    scenario("default", Driver::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_polling_only() {
    scenario("polling", Driver::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_polling_without_upgrade() {
    scenario("no-upgrade", Driver::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_websocket_only() {
    scenario("websocket", Driver::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_through_a_redis_restart() {
    scenario_on("default", Driver::Node, &RedisServer::start(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_polling_through_a_redis_restart() {
    scenario_on("polling", Driver::Node, &RedisServer::start(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_through_a_redis_restart() {
    scenario_on("default", Driver::Chromium, &RedisServer::start(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_polling_then_upgrade() {
    scenario("default", Driver::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_polling_only() {
    scenario("polling", Driver::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_polling_without_upgrade() {
    scenario("no-upgrade", Driver::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_websocket_only() {
    scenario("websocket", Driver::Chromium).await;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP: unknown sessions, dead owners, the internal hop's signature

const UNKNOWN: &str = r#"{"code":1,"message":"Session ID unknown"}"#;

/// Opens a polling session directly on `addr`; returns its sid.
pub(crate) async fn handshake(addr: SocketAddr) -> String {
    let res = http::send(
        &addr.to_string(),
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        &[],
        b"",
    )
    .await
    .expect("handshake");
    assert_eq!(res.status, 200);
    let text = res.text();
    let open: Value = serde_json::from_str(&text[1..]).expect("open packet");
    open["sid"].as_str().expect("sid").to_string()
}

pub(crate) fn poll_path(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

async fn assert_unknown(addr: SocketAddr, sid: &str) {
    let started = Instant::now();
    for (method, body) in [("GET", &b""[..]), ("POST", &b"40"[..])] {
        let res = http::send(&addr.to_string(), method, &poll_path(sid), &[], body)
            .await
            .expect("request");
        assert_eq!(res.status, 400, "{method} {sid}");
        assert_eq!(res.text(), UNKNOWN, "{method} {sid}");
        assert_eq!(res.header("content-type"), Some("application/json"));
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_foreign_sids_are_unknown_sessions() {
    let cluster = Cluster::start(RedisServer::shared(), "no-sticky-forged").await;
    let (a, b) = (cluster.node("a"), cluster.node("b"));
    let sid = handshake(a.addr).await;
    // The session itself works from another node ...
    let res = http::send(&b.addr.to_string(), "POST", &poll_path(&sid), &[], b"40")
        .await
        .unwrap();
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    // ... but a sid that names a live node and no session of it, one that names no node, and
    // a malformed one are all the same unknown session, on every node.
    let forged = format!("{}AAAAAAAAAAAAAAAA", a.node);
    for node in [a, b] {
        assert_unknown(node.addr, &forged).await;
        assert_unknown(node.addr, "zzzzAAAAAAAAAAAAAAAA").await;
        assert_unknown(node.addr, "not-a-sid").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_owner_is_an_unknown_session_within_a_second() {
    let mut cluster = Cluster::start(RedisServer::shared(), "no-sticky-dead").await;
    let sid = handshake(cluster.node("a").addr).await;
    // Known to b before a dies (forwarding works) ...
    let b = cluster.node("b").addr;
    let res = http::send(&b.to_string(), "POST", &poll_path(&sid), &[], b"40")
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    cluster.kill("a");
    // ... then an unknown session, quickly.
    assert_unknown(b, &sid).await;
    // A node that never heard of a: the query goes unanswered within the deadline.
    assert_unknown(cluster.node("c").addr, &sid).await;
}

fn hmac_hex(secret: &[u8], message: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signature of the README, computed independently.
fn signature(secret: &[u8], method: &str, path: &str, body: &[u8]) -> (String, String) {
    use sha2::Digest;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let digest: String = sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let message = format!("tsio-hop-v1\n{time}\nhttp\n{method}\n{path}\n{digest}");
    (time, hmac_hex(secret, &message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_hop_refuses_unsigned_and_forged_requests() {
    let cluster = Cluster::start(RedisServer::shared(), "no-sticky-auth").await;
    let a = cluster.node("a");
    let internal = a.internal.to_string();
    let sid = handshake(a.addr).await;
    let path = poll_path(&sid);
    let forbidden = r#"{"code":4,"message":"Forbidden"}"#;
    let attempt = |headers: Vec<(&'static str, String)>, body: &'static [u8]| {
        let (internal, path) = (internal.clone(), path.clone());
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http::send(&internal, "POST", &path, &headers, body)
                .await
                .unwrap()
        }
    };
    // Unsigned.
    let res = attempt(vec![], b"40").await;
    assert_eq!((res.status, res.text().as_str()), (403, forbidden));
    // Signed with another secret.
    let (time, sig) = signature(b"not the secret", "POST", &path, b"40");
    let res = attempt(
        vec![("x-tsio-hop-time", time), ("x-tsio-hop-signature", sig)],
        b"40",
    )
    .await;
    assert_eq!(res.status, 403);
    // A valid signature of another body.
    let (time, sig) = signature(SECRET.as_bytes(), "POST", &path, b"41");
    let res = attempt(
        vec![("x-tsio-hop-time", time), ("x-tsio-hop-signature", sig)],
        b"40",
    )
    .await;
    assert_eq!(res.status, 403);
    // A handshake on the internal port, even signed, opens nothing.
    let hs = "/socket.io/?EIO=4&transport=polling";
    let (time, sig) = signature(SECRET.as_bytes(), "GET", hs, b"");
    let headers = [
        ("x-tsio-hop-time", time.as_str()),
        ("x-tsio-hop-signature", sig.as_str()),
    ];
    let res = http::send(&internal, "GET", hs, &headers, b"")
        .await
        .unwrap();
    assert_eq!(res.status, 400);
    // The same request properly signed goes through: the refusals above were the signature's.
    let (time, sig) = signature(SECRET.as_bytes(), "POST", &path, b"40");
    let res = attempt(
        vec![("x-tsio-hop-time", time), ("x-tsio-hop-signature", sig)],
        b"40",
    )
    .await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
}

/// What a client sees of the polling rules (the concurrent-GET rule, the payload size) through
/// `entry` for sessions that live on `owner`.
async fn polling_rules_through(owner: SocketAddr, entry: SocketAddr) -> Vec<(u16, String)> {
    let at = entry.to_string();
    let mut seen = Vec::new();
    let sid = handshake(owner).await;
    let res = http::send(&at, "POST", &poll_path(&sid), &[], b"40")
        .await
        .unwrap();
    seen.push((res.status, res.text()));
    let res = http::send(&at, "GET", &poll_path(&sid), &[], b"")
        .await
        .unwrap();
    seen.push((res.status, res.text()[..2].to_string()));
    // A GET while another is pending: Node closes the session.
    let (first_at, path) = (at.clone(), poll_path(&sid));
    let first = tokio::spawn(async move { http::send(&first_at, "GET", &path, &[], b"").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = http::send(&at, "GET", &poll_path(&sid), &[], b"")
        .await
        .unwrap();
    seen.push((second.status, second.text()));
    let first = first.await.unwrap().unwrap();
    seen.push((first.status, first.text()));
    let after = http::send(&at, "GET", &poll_path(&sid), &[], b"")
        .await
        .unwrap();
    seen.push((after.status, after.text()));
    // A body over max_http_buffer_size (Node's default, 1 MB).
    let sid = handshake(owner).await;
    let big = vec![b'4'; 1_000_001];
    let res = http::send(&at, "POST", &poll_path(&sid), &[], &big)
        .await
        .unwrap();
    seen.push((res.status, res.text()));
    let res = http::send(&at, "POST", &poll_path(&sid), &[], b"40")
        .await
        .unwrap();
    seen.push((res.status, res.text()));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_rules_are_the_same_from_any_node() {
    let cluster = Cluster::start_with(
        RedisServer::shared(),
        "no-sticky-rules",
        Duration::from_secs(10),
    )
    .await;
    let (a, b) = (cluster.node("a").addr, cluster.node("b").addr);
    let local = polling_rules_through(a, a).await;
    let forwarded = polling_rules_through(a, b).await;
    assert_eq!(local, forwarded);
    // And the rules did apply: the overlapping GET ended the session.
    assert_eq!(local[2].0, 400, "{local:?}");
    assert_eq!(local[4], (400, UNKNOWN.to_string()), "{local:?}");
    assert_eq!(local[5].0, 413, "{local:?}");
}

/// An upgrade that lands on another node than the session's is tunnelled to the owner: the
/// probe, the pending poll released with a noop, the `5`, the heartbeat and the messages are
/// the owner's; a second upgrade, through a third node, is closed at once as on one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_through_another_node_is_tunnelled() {
    use crate::support::ws::{WsClient, WsEvent};
    let cluster = Cluster::start(RedisServer::shared(), "no-sticky-tunnel").await;
    let (a, b, c) = (
        cluster.node("a").addr,
        cluster.node("b").addr,
        cluster.node("c").addr,
    );
    let sid = handshake(a).await;
    let res = http::send(&c.to_string(), "POST", &poll_path(&sid), &[], b"40")
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    let res = http::send(&c.to_string(), "GET", &poll_path(&sid), &[], b"")
        .await
        .unwrap();
    assert!(res.text().starts_with("40"), "{}", res.text());
    // A poll pending through c while the WebSocket is probed through b.
    let (at, path) = (c.to_string(), poll_path(&sid));
    let pending = tokio::spawn(async move { http::send(&at, "GET", &path, &[], b"").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("ws://{b}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let mut ws = WsClient::connect(&url).await.expect("tunnelled upgrade");
    ws.send_text("2probe").await;
    assert_eq!(ws.recv().await, WsEvent::Text("3probe".into()));
    let released = pending.await.unwrap().unwrap();
    assert_eq!((released.status, released.text().as_str()), (200, "6"));
    ws.send_text("5").await;
    ws.send_text("421[\"echo\",7]").await;
    assert_eq!(
        ws.recv_skip_pings().await,
        WsEvent::Text("431[[7,0]]".into())
    );
    // Several heartbeats through the tunnel.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < 5 * PING_INTERVAL {
        if let Some(WsEvent::Text(t)) = ws.recv_within(PING_INTERVAL).await {
            assert_eq!(t, "2");
            pings += 1;
            ws.send_text("3").await;
        }
    }
    assert!(pings >= 3, "{pings} pings");
    // The session has its WebSocket: another upgrade, through c, is closed at once.
    let url = format!("ws://{c}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let mut second = WsClient::connect(&url).await.expect("second upgrade");
    second.expect_closed_within(Duration::from_secs(2)).await;
    ws.send_text("421[\"echo\",8]").await;
    assert_eq!(
        ws.recv_skip_pings().await,
        WsEvent::Text("431[[8,1]]".into())
    );
    // Polling is over for this session, from any node.
    let res = http::send(&c.to_string(), "GET", &poll_path(&sid), &[], b"")
        .await
        .unwrap();
    assert_eq!(res.status, 400);
}
