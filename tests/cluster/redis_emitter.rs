//! The emitter (`tower_socketio::emitter`): a process that is not a server sends, through
//! Redis, to the clients of Rust and Node nodes, in every Redis format; and Node's own
//! `@socket.io/redis-emitter` 5.1 reaches the clients of Rust nodes.
//!
//! Each test has its own `redis-server`, a cluster of one Rust node and one Node node (one
//! client each, in `room-c-<node>` and `g<index % 2>`, plus a client in `/chat`), and runs the
//! same scenario through the emitter: every room / except / namespace combination, flags,
//! binary data, remote join and leave, server-side emits, disconnects.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use tower_socketio::emitter::{Emitter, EmitterError, EmitterOperators};
use tower_socketio::extract::Args;

use crate::support::redis::{
    Cluster, JsNode, JsProc, Node, RedisServer, RustNode, Target, command, config,
};

/// Which sockets an emitter operation targets, and with which flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sel {
    rooms: Vec<String>,
    except: Vec<String>,
    nsp: Option<String>,
    volatile: bool,
    compress: Option<bool>,
}

impl Sel {
    pub(crate) fn all() -> Sel {
        Sel::default()
    }

    pub(crate) fn to(rooms: &[&str]) -> Sel {
        Sel {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            ..Sel::default()
        }
    }

    fn except(mut self, rooms: &[&str]) -> Sel {
        self.except = rooms.iter().map(|r| r.to_string()).collect();
        self
    }

    pub(crate) fn nsp(mut self, nsp: &str) -> Sel {
        self.nsp = Some(nsp.to_string());
        self
    }

    fn json(&self) -> Value {
        json!({
            "rooms": self.rooms,
            "except": self.except,
            "nsp": self.nsp,
            "volatile": self.volatile,
            "compress": self.compress,
        })
    }
}

/// An emitter: ours, or Node's `@socket.io/redis-emitter` (`tests/js/redis-emitter.mjs`).
#[allow(clippy::large_enum_variant)]
pub(crate) enum AnyEmitter {
    Rust(Emitter),
    Js(JsProc),
}

fn bin_json(data: &[u8]) -> Value {
    json!({ "$bin": data.iter().map(|b| format!("{b:02x}")).collect::<String>() })
}

impl AnyEmitter {
    async fn js(redis_url: &str) -> AnyEmitter {
        let proc = JsProc::spawn(
            "redis-emitter.mjs",
            "node-emitter",
            &[("REDIS_URL", redis_url.to_string())],
        )
        .await;
        proc.events
            .wait_for("the Node emitter", Duration::from_secs(20), |e| {
                e.iter().any(|v| v["event"] == "ready")
            })
            .await;
        AnyEmitter::Js(proc)
    }

    fn ops(emitter: &Emitter, sel: &Sel) -> EmitterOperators {
        let mut op = emitter
            .of(sel.nsp.as_deref().unwrap_or("/"))
            .to(sel.rooms.clone())
            .except(sel.except.clone());
        if sel.volatile {
            op = op.volatile();
        }
        if let Some(compress) = sel.compress {
            op = op.compress(compress);
        }
        op
    }

    async fn call(proc: &JsProc, op: &str, sel: &Sel, extra: Value) {
        let mut params = sel.json();
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            params[k] = v;
        }
        proc.request(op, params)
            .await
            .unwrap_or_else(|e| panic!("Node emitter: {op} failed: {e}"));
    }

    async fn emit(&self, sel: &Sel, event: &str, args: Vec<Value>) {
        match self {
            AnyEmitter::Rust(e) => Self::ops(e, sel)
                .emit(event, &Args(args))
                .await
                .expect("emit"),
            AnyEmitter::Js(p) => {
                Self::call(p, "emit", sel, json!({ "event": event, "args": args })).await
            }
        }
    }

    /// Emits one binary argument inside a JSON one, and a second binary one beside it.
    async fn emit_bin(&self, sel: &Sel, event: &str, data: &[u8]) {
        match self {
            AnyEmitter::Rust(e) => Self::ops(e, sel)
                .bin([
                    bytes::Bytes::copy_from_slice(data),
                    bytes::Bytes::from_static(b"\x00"),
                ])
                .emit(
                    event,
                    &(
                        json!({ "file": tower_socketio::placeholder(0), "size": data.len() }),
                        tower_socketio::placeholder(1),
                    ),
                )
                .await
                .expect("emit"),
            AnyEmitter::Js(p) => {
                let args =
                    json!([{ "file": bin_json(data), "size": data.len() }, bin_json(b"\x00")]);
                Self::call(p, "emit", sel, json!({ "event": event, "args": args })).await
            }
        }
    }

    async fn sockets_join(&self, sel: &Sel, room: &str) {
        match self {
            AnyEmitter::Rust(e) => Self::ops(e, sel)
                .sockets_join(room.to_string())
                .await
                .expect("sockets_join"),
            AnyEmitter::Js(p) => Self::call(p, "socketsJoin", sel, json!({ "join": room })).await,
        }
    }

    async fn sockets_leave(&self, sel: &Sel, room: &str) {
        match self {
            AnyEmitter::Rust(e) => Self::ops(e, sel)
                .sockets_leave(room.to_string())
                .await
                .expect("sockets_leave"),
            AnyEmitter::Js(p) => Self::call(p, "socketsLeave", sel, json!({ "leave": room })).await,
        }
    }

    async fn disconnect_sockets(&self, sel: &Sel, close: bool) {
        match self {
            AnyEmitter::Rust(e) => Self::ops(e, sel)
                .disconnect_sockets(close)
                .await
                .expect("disconnect_sockets"),
            AnyEmitter::Js(p) => {
                Self::call(p, "disconnectSockets", sel, json!({ "close": close })).await
            }
        }
    }

    async fn server_side_emit(&self, event: &str, args: Vec<Value>) {
        match self {
            AnyEmitter::Rust(e) => e
                .server_side_emit(event, &Args(args))
                .await
                .expect("server_side_emit"),
            AnyEmitter::Js(p) => {
                let params = json!({ "event": event, "args": args });
                Self::call(p, "serverSideEmit", &Sel::all(), params).await
            }
        }
    }
}

/// Client names of the nodes whose index passes `filter`, in namespace `/` (or `/chat`).
pub(crate) fn clients(
    cluster: &Cluster,
    chat: bool,
    filter: impl Fn(usize) -> bool,
) -> Vec<String> {
    (0..cluster.nodes.len())
        .filter(|i| filter(*i))
        .map(|i| match chat {
            false => format!("c-{}", cluster.nodes[i].name()),
            true => format!("c-{}-chat", cluster.nodes[i].name()),
        })
        .collect()
}

/// Emits `ev` through the emitter and checks that exactly `expected` got it, once each, with
/// these arguments: a barrier from the same emitter, published after it on the same
/// connection, must reach every client of the namespace first.
pub(crate) async fn expect(
    cluster: &Cluster,
    emitter: &AnyEmitter,
    sel: &Sel,
    ev: &str,
    args: Vec<Value>,
    expected: &[String],
) {
    emitter.emit(sel, ev, args.clone()).await;
    check_delivery(cluster, emitter, sel, ev, expected).await;
    for r in cluster.clients.received(ev) {
        assert_eq!(
            r.args,
            Value::Array(args.clone()),
            "{ev} args at {}",
            r.client
        );
    }
}

async fn check_delivery(
    cluster: &Cluster,
    emitter: &AnyEmitter,
    sel: &Sel,
    ev: &str,
    expected: &[String],
) {
    let want: Vec<&str> = expected.iter().map(String::as_str).collect();
    cluster.clients.wait_all(ev, &want).await;
    let barrier = format!("barrier-{ev}");
    let mut all = Sel::all();
    all.nsp = sel.nsp.clone();
    emitter.emit(&all, &barrier, vec![]).await;
    let everyone = clients(cluster, sel.nsp.is_some(), |_| true);
    let everyone: Vec<&str> = everyone.iter().map(String::as_str).collect();
    cluster.clients.wait_all(&barrier, &everyone).await;
    let mut got: Vec<String> = cluster
        .clients
        .received(ev)
        .into_iter()
        .map(|r| r.client)
        .collect();
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want, "{ev}: receivers (each exactly once)");
}

/// Waits until the sockets in `room`, fetched from node 0, are exactly those of `members`.
async fn wait_room(cluster: &Cluster, room: &str, members: &[String]) {
    let want: std::collections::BTreeSet<String> =
        members.iter().map(|c| cluster.sids[c].clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fetched = cluster.nodes[0].fetch_sockets(&Target::to(&[room])).await;
        let got: std::collections::BTreeSet<String> = fetched.into_iter().map(|f| f.id).collect();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "room {room}: {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// In the sharded dynamic mode, a node listens to a room's own channel a moment after its
/// first socket joined: waits until `nodes` nodes do.
async fn wait_room_channel(redis: &RedisServer, room: &str, nodes: usize) {
    let channel = format!("socket.io#/#{room}#");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = command(redis.port, &["PUBSUB", "SHARDNUMSUB", &channel]).unwrap_or_default();
        let count = reply
            .lines()
            .last()
            .and_then(|l| l.trim().strip_prefix(':'))
            .and_then(|n| n.parse::<usize>().ok());
        if count == Some(nodes) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{channel} has {count:?} subscribers, expected {nodes}: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every emitter operation, checked at every client. `room_channels`: the nodes listen to
/// rooms' own sharded channels on this Redis, which a join subscribes a moment later.
pub(crate) async fn run_scenario(
    cluster: &mut Cluster,
    emitter: &AnyEmitter,
    room_channels: Option<&RedisServer>,
) {
    let everyone = clients(cluster, false, |_| true);
    let (first, second) = (
        format!("c-{}", cluster.nodes[0].name()),
        format!("c-{}", cluster.nodes[1].name()),
    );

    // Broadcasts: everyone, one room (its own channel), a client's room, a socket id, two
    // rooms but one, everyone but a room, a room minus itself.
    let sel = Sel::all();
    let args = vec![json!("hi"), json!({"n": 1, "list": [1.5, null, true]})];
    expect(cluster, emitter, &sel, "all", args, &everyone).await;
    let g0 = clients(cluster, false, |i| i % 2 == 0);
    let g1 = clients(cluster, false, |i| i % 2 == 1);
    expect(
        cluster,
        emitter,
        &Sel::to(&["g0"]),
        "g0",
        vec![json!(1)],
        &g0,
    )
    .await;
    expect(cluster, emitter, &Sel::to(&["g1"]), "g1", vec![], &g1).await;
    let room = format!("room-{second}");
    let only_second = std::slice::from_ref(&second);
    expect(
        cluster,
        emitter,
        &Sel::to(&[&room]),
        "room",
        vec![json!("r")],
        only_second,
    )
    .await;
    let sid = cluster.sids[&first].clone();
    let only_first = std::slice::from_ref(&first);
    expect(
        cluster,
        emitter,
        &Sel::to(&[&sid]),
        "sid",
        vec![json!("you")],
        only_first,
    )
    .await;
    let sel = Sel::to(&["g0", "g1"]).except(&[&room]);
    expect(cluster, emitter, &sel, "two-but-one", vec![], only_first).await;
    let sel = Sel::all().except(&["g0"]);
    expect(cluster, emitter, &sel, "all-but-g0", vec![json!(null)], &g1).await;
    let sel = Sel::to(&["g1"]).except(&["g1"]);
    expect(cluster, emitter, &sel, "nobody", vec![], &[]).await;
    let sel = Sel::to(&["g0", "g0"]);
    expect(cluster, emitter, &sel, "g0-twice", vec![json!(2)], &g0).await;

    // Flags: volatile and compress(false) still reach connected clients.
    let sel = Sel {
        volatile: true,
        compress: Some(false),
        ..Sel::all()
    };
    expect(cluster, emitter, &sel, "flags", vec![json!("v")], &everyone).await;

    // Another namespace: its clients only, rooms included.
    let chat = clients(cluster, true, |_| true);
    let sel = Sel::all().nsp("/chat");
    expect(cluster, emitter, &sel, "chat-all", vec![json!("c")], &chat).await;
    let chat_g1 = clients(cluster, true, |i| i % 2 == 1);
    let sel = Sel::to(&["g1"]).nsp("chat");
    expect(cluster, emitter, &sel, "chat-g1", vec![], &chat_g1).await;

    // Binary data, to everyone and to one room.
    let data: Vec<u8> = (0..=255u8).chain(0..10).collect();
    let want = json!([{ "file": bin_json(&data), "size": data.len() }, bin_json(b"\x00")]);
    for (sel, ev, to) in [
        (Sel::all(), "bin-all", &everyone),
        (Sel::to(&["g0"]), "bin-g0", &g0),
    ] {
        emitter.emit_bin(&sel, ev, &data).await;
        check_delivery(cluster, emitter, &sel, ev, to).await;
        for r in cluster.clients.received(ev) {
            assert_eq!(r.args, want, "{ev} at {}", r.client);
        }
    }

    // Remote join and leave, on both nodes, then on one.
    emitter.sockets_join(&Sel::to(&["g0", "g1"]), "ej").await;
    wait_room(cluster, "ej", &everyone).await;
    if let Some(redis) = room_channels {
        wait_room_channel(redis, "ej", 2).await;
    }
    expect(cluster, emitter, &Sel::to(&["ej"]), "ej", vec![], &everyone).await;
    emitter
        .sockets_leave(&Sel::all().except(&["g0"]), "ej")
        .await;
    wait_room(cluster, "ej", &g0).await;
    expect(cluster, emitter, &Sel::to(&["ej"]), "ej-g0", vec![], &g0).await;
    emitter.sockets_leave(&Sel::to(&["ej"]), "ej").await;
    wait_room(cluster, "ej", &[]).await;
    expect(cluster, emitter, &Sel::to(&["ej"]), "ej-none", vec![], &[]).await;

    // Server-side emit: every node's listener, once.
    let mut before = Vec::new();
    for node in &cluster.nodes {
        before.push(node.server_side_log().await.len());
    }
    let args = vec![json!("from-emitter"), json!({"k": 1})];
    emitter.server_side_emit("ping-cluster", args.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, node) in cluster.nodes.iter().enumerate() {
        loop {
            let log = node.server_side_log().await;
            if log.len() > before[i] {
                assert_eq!(
                    log.len(),
                    before[i] + 1,
                    "server-side emit at {}",
                    node.name()
                );
                assert_eq!(log.last(), Some(&Value::Array(args.clone())));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server-side emit at {}: {log:?}",
                node.name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Disconnect each node's client by its room, then bring it back.
    for (i, client) in [(1, &second), (0, &first)] {
        let room = format!("room-{client}");
        emitter.disconnect_sockets(&Sel::to(&[&room]), false).await;
        let reason = cluster.clients.wait_disconnect(client).await;
        assert_eq!(reason, "io server disconnect", "disconnect of {client}");
        cluster
            .clients
            .proc
            .events
            .list
            .lock()
            .unwrap()
            .retain(|v| v["event"] != "disconnect");
        cluster.connect(i).await;
    }
    // The /chat clients were left alone.
    let sel = Sel::all().nsp("/chat");
    expect(cluster, emitter, &sel, "chat-after", vec![], &chat).await;
    // With `close`, the connection goes too.
    emitter
        .disconnect_sockets(&Sel::to(&[&format!("room-{second}")]), true)
        .await;
    cluster.clients.wait_disconnect(&second).await;
}

async fn mixed_cluster(redis: &RedisServer, mode: RedisMode, js: JsNode) -> Cluster {
    let r1 = RustNode::start("r1", config(redis, mode)).await;
    Cluster::start(vec![Node::Rust(r1), Node::Js(js)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_emitter_reaches_rust_and_node_nodes_classic() {
    let redis = RedisServer::start();
    let n1 = JsNode::start("n1", &redis.url(), "socket.io", None).await;
    let mut cluster = mixed_cluster(&redis, RedisMode::Classic, n1).await;
    let emitter = Emitter::redis(RedisAdapterConfig::new(redis.url()))
        .await
        .expect("emitter");
    let emitter = AnyEmitter::Rust(emitter);
    run_scenario(&mut cluster, &emitter, None).await;
}

/// The sharded format in one subscription mode, Node's name for it being `node_mode`.
async fn sharded(mode: SubscriptionMode, node_mode: &str) {
    let redis = RedisServer::start();
    let n1 = JsNode::start("n1", &redis.url(), "socket.io", Some(node_mode)).await;
    let mode_of_nodes = RedisMode::Sharded(mode);
    let mut cluster = mixed_cluster(&redis, mode_of_nodes, n1).await;
    let config = RedisAdapterConfig::new(redis.url()).mode(mode_of_nodes);
    let emitter = AnyEmitter::Rust(Emitter::redis(config).await.expect("emitter"));
    let room_channels = (mode != SubscriptionMode::Static).then_some(&redis);
    run_scenario(&mut cluster, &emitter, room_channels).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_emitter_reaches_rust_and_node_nodes_sharded() {
    sharded(SubscriptionMode::Dynamic, "dynamic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_emitter_reaches_rust_and_node_nodes_sharded_static() {
    sharded(SubscriptionMode::Static, "static").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_emitter_reaches_rust_and_node_nodes_sharded_dynamic_private() {
    sharded(SubscriptionMode::DynamicPrivate, "dynamic-private").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_emitter_reaches_rust_and_node_nodes_streams() {
    let redis = RedisServer::start();
    let n1 = JsNode::start_streams("n1", &redis.url(), "socket.io", None).await;
    let mut cluster = mixed_cluster(&redis, RedisMode::Streams, n1).await;
    let config = RedisAdapterConfig::new(redis.url()).mode(RedisMode::Streams);
    let emitter = Emitter::redis(config).await.expect("emitter");
    let emitter = AnyEmitter::Rust(emitter);
    run_scenario(&mut cluster, &emitter, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_redis_emitter_reaches_rust_nodes() {
    let redis = RedisServer::start();
    let n1 = JsNode::start("n1", &redis.url(), "socket.io", None).await;
    let mut cluster = mixed_cluster(&redis, RedisMode::Classic, n1).await;
    let emitter = AnyEmitter::js(&redis.url()).await;
    run_scenario(&mut cluster, &emitter, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitter_errors_are_typed_and_it_outlives_a_redis_restart() {
    let unreachable = Emitter::redis(RedisAdapterConfig::new("redis://127.0.0.1:1")).await;
    assert!(unreachable.is_err(), "connecting to a closed port");

    let redis = RedisServer::start();
    let emitter = Emitter::redis(RedisAdapterConfig::new(redis.url()))
        .await
        .expect("emitter");
    let refused = emitter.emit("disconnect", &()).await;
    assert!(
        matches!(refused, Err(EmitterError::ReservedEvent(ref e)) if e == "disconnect"),
        "{refused:?}"
    );

    redis.kill();
    let started = Instant::now();
    let failed = emitter.emit("lost", &1).await;
    assert!(
        matches!(failed, Err(EmitterError::Backend(_))),
        "{failed:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "an emit hung");

    redis.start_again();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match emitter.emit("back", &1).await {
            Ok(()) => break,
            Err(err) => assert!(Instant::now() < deadline, "still failing: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => {}
            other => panic!("the connection ended or stalled: {other:?}"),
        }
    }
}

/// An event's `[name, ...args]`, if `text` is one.
fn event(text: &str) -> Option<Vec<Value>> {
    serde_json::from_str(text.strip_prefix("42")?).ok()
}

/// Connects with `auth`; the CONNECT reply, and the events that came before it.
async fn connect(url: &str, auth: Option<Value>) -> (Ws, Value, Vec<Vec<Value>>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake");
    assert!(next_text(&mut ws).await.starts_with('0'), "open packet");
    let connect = auth.map_or("40".to_owned(), |auth| format!("40{auth}"));
    ws.send(Message::text(connect)).await.expect("send");
    let mut before = Vec::new();
    loop {
        let text = next_text(&mut ws).await;
        if let Some(reply) = text.strip_prefix("40") {
            return (
                ws,
                serde_json::from_str(reply).expect("CONNECT reply"),
                before,
            );
        }
        before.extend(event(&text));
    }
}

/// Reads events until one named `name`.
async fn until_event(ws: &mut Ws, name: &str, seen: &mut Vec<Vec<Value>>) -> Vec<Value> {
    loop {
        if let Some(found) = seen.iter().position(|e| e[0] == name) {
            return seen.remove(found);
        }
        seen.extend(event(&next_text(ws).await));
    }
}

/// In the Streams format, what the emitter sends is an entry of the stream: a client that
/// missed it while disconnected gets it when it recovers, with its offset; one that was not
/// targeted does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_emitter_broadcasts_are_replayed_on_recovery() {
    let redis = RedisServer::start();
    let window = Some(Duration::from_secs(10));
    let node = RustNode::start_with("r1", config(&redis, RedisMode::Streams), window).await;
    node.io.ready().await.expect("ready");
    let config = RedisAdapterConfig::new(redis.url()).mode(RedisMode::Streams);
    let emitter = Emitter::redis(config).await.expect("emitter");
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", node.addr);

    let (mut ws, reply, mut seen) = connect(&url, None).await;
    let (sid, pid) = (reply["sid"].clone(), reply["pid"].clone());
    emitter.emit("live", &"a").await.expect("emit");
    let live = until_event(&mut ws, "live", &mut seen).await;
    assert_eq!(live.len(), 3, "live with its offset: {live:?}");
    let offset = live[2].clone();

    // The cut: the node keeps the session once it saw the connection end.
    drop(ws);
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.io.client_count() > 0 {
        assert!(Instant::now() < deadline, "the node never saw the cut");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sid_room = sid.as_str().expect("sid").to_owned();
    emitter.emit("missed", &("m", 1)).await.expect("emit");
    emitter
        .to(sid_room)
        .emit("direct", &())
        .await
        .expect("emit");
    emitter
        .to("elsewhere")
        .emit("not-mine", &())
        .await
        .expect("emit");
    emitter
        .volatile()
        .emit("volatile", &())
        .await
        .expect("emit");

    let auth = json!({ "pid": pid, "offset": offset });
    let (mut ws, reply, mut seen) = connect(&url, Some(auth)).await;
    assert_eq!(reply["sid"], sid, "recovered: {reply}");
    let missed = until_event(&mut ws, "missed", &mut seen).await;
    assert_eq!(
        (&missed[..3], missed.len()),
        (&[json!("missed"), json!("m"), json!(1)][..], 4)
    );
    let direct = until_event(&mut ws, "direct", &mut seen).await;
    assert_eq!(direct.len(), 2, "direct with its offset: {direct:?}");
    // A live event after the replay: nothing else came before it.
    emitter.emit("after", &()).await.expect("emit");
    until_event(&mut ws, "after", &mut seen).await;
    let names: Vec<&Value> = seen.iter().map(|e| &e[0]).collect();
    assert!(
        seen.iter()
            .all(|e| e[0] != "not-mine" && e[0] != "volatile"),
        "replayed what it should not have: {names:?}"
    );
}

/// Reads events until `[name, i]`, answering Engine.IO pings on the way.
async fn until_numbered(ws: &mut Ws, name: &str, i: u64) {
    loop {
        let text = next_text(ws).await;
        if text == "2" {
            ws.send(Message::text("3")).await.expect("pong");
        } else if event(&text).is_some_and(|e| e[0] == name && e[1] == i) {
            return;
        }
    }
}

/// A measurement, not a check of behaviour: from an emitter's `emit` to a client of a Rust node
/// and of a Node node (classic format, one Redis), the latency of one event at a time (median
/// and p99 of 2 000) and the rate of 20 000 emitted without waiting for each other. Run it on
/// its own: `scripts/test cluster -E 'test(emitter_latency)' --run-ignored only --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on its own"]
async fn emitter_latency() {
    const ROUNDS: u64 = 2_000;
    const BURST: u64 = 20_000;
    let redis = RedisServer::start();
    let rust = Node::Rust(RustNode::start("r1", config(&redis, RedisMode::Classic)).await);
    let js = Node::Js(JsNode::start("n1", &redis.url(), "socket.io", None).await);
    for node in [&rust, &js] {
        node.wait_server_count(2).await;
    }
    let emitter = Emitter::redis(RedisAdapterConfig::new(redis.url()))
        .await
        .expect("emitter");
    for node in [&rust, &js] {
        let url = node.url().replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket";
        let (mut ws, _, _) = connect(&url, None).await;
        let mut samples = Vec::with_capacity(ROUNDS as usize);
        for i in 0..ROUNDS + 200 {
            let started = Instant::now();
            emitter.emit("lat", &i).await.expect("emit");
            until_numbered(&mut ws, "lat", i).await;
            if i >= 200 {
                samples.push(started.elapsed());
            }
        }
        samples.sort();
        let median = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];

        let started = Instant::now();
        let burst: Vec<_> = (0..BURST).map(|i| emitter.emit("burst", &i)).collect();
        let send = futures_util::future::try_join_all(burst);
        let (sent, ()) = tokio::join!(send, until_numbered(&mut ws, "burst", BURST - 1));
        sent.expect("burst");
        let rate = BURST as f64 / started.elapsed().as_secs_f64();
        println!(
            "emitter -> client of {}: latency median {median:?}, p99 {p99:?} ({ROUNDS} events); \
             {BURST} events in a burst at {rate:.0}/s",
            node.name()
        );
    }
}
