//! Support for the Redis adapter tests: a private `redis-server`, Rust cluster nodes, Node.js
//! cluster nodes (`tests/js/redis-node.mjs`) and a pool of real `socket.io-client`s
//! (`tests/js/redis-clients.mjs`), all on loopback.
//!
//! - [`RedisServer`] runs `redis-server --port <free> --save "" --appendonly no` (never the
//!   machine's shared instance); [`RedisServer::shared`] is one per test process. A watchdog
//!   shell kills it when the test process is gone, since statics are never dropped.
//! - [`RustNode`] serves a `SocketIo` with the Redis adapter on `127.0.0.1:0`.
//! - [`JsNode`] and [`Clients`] drive the Node scripts over JSON lines.
//! - [`Node`] puts the operations of both kinds of node behind one interface, so every check runs
//!   from a Rust node and from a Node node alike.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};
use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig, RedisMode};
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

use super::node;

// ---------------------------------------------------------------------------------------------
// redis-server

/// A `redis-server` of this test process, on a free loopback port.
pub struct RedisServer {
    pub port: u16,
    child: Mutex<Option<Child>>,
    /// With an append-only file here (fsync on every write), what Redis took survives a restart.
    aof_dir: Option<std::path::PathBuf>,
}

/// A free port below Linux's ephemeral range (32768-60999), picked at random: a port the
/// kernel hands out for `bind(0)` is soon handed out again, so another test process could take
/// it while a test has its Redis down for a restart, and the restart would then talk to that
/// other process's server.
fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000")
}

impl RedisServer {
    /// The redis-server shared by the tests of this process.
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(RedisServer::start)
    }

    /// A new redis-server on a free port.
    pub fn start() -> RedisServer {
        RedisServer::start_with(None)
    }

    /// A new redis-server that keeps its data across restarts (AOF, `appendfsync always`, in a
    /// fresh directory under the system's temp dir).
    pub fn start_persistent() -> RedisServer {
        let dir =
            std::env::temp_dir().join(format!("tsio-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("AOF directory");
        RedisServer::start_with(Some(dir))
    }

    fn start_with(aof_dir: Option<std::path::PathBuf>) -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            let server = RedisServer {
                port,
                child: Mutex::new(None),
                aof_dir: aof_dir.clone(),
            };
            if server.launch() {
                return server;
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn launch(&self) -> bool {
        let port = self.port.to_string();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ];
        let dir = self
            .aof_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned());
        match &dir {
            Some(dir) => args.extend([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                dir,
            ]),
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the Redis adapter tests need `redis-server` on PATH ({e}): install it \
                     (Debian/Ubuntu: apt-get install -y redis-server) or run scripts/test"
                )
            });
        // Kill it when this test process is gone (statics are never dropped).
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {} 2>/dev/null && kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null",
                std::process::id(),
                child.id(),
                child.id()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let pid = child.id();
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Our server, not another process's that took the port meanwhile.
            if let Ok(reply) = command(self.port, &["INFO", "server"])
                && reply.contains(&format!("process_id:{}\r\n", pid))
            {
                return true;
            }
            if let Some(child) = self.child.lock().unwrap().as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills the server (SIGKILL: a crash, connections reset).
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server the way an operator does (`SHUTDOWN`, SIGTERM): it finishes what it
    /// was doing, then closes every connection.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port after [`stop`](Self::stop) or [`kill`](Self::kill).
    pub fn start_again(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.launch() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.launch() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.aof_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sends one command over raw RESP and returns the reply's text (for checks and for publishing
/// hostile messages without a client library).
pub fn command(port: u16, args: &[&str]) -> std::io::Result<String> {
    command_bytes(port, &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

/// [`command`] with binary arguments.
pub fn command_bytes(port: u16, args: &[&[u8]]) -> std::io::Result<String> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    stream.write_all(&out)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Enough for the replies these tests read: status, integer, error, a bulk string (INFO),
    // an array's first 4 KiB.
    if let Some(len) = line
        .strip_prefix('$')
        .and_then(|l| l.trim().parse::<usize>().ok())
    {
        let mut body = vec![0u8; len + 2];
        reader.read_exact(&mut body)?;
        line.push_str(&String::from_utf8_lossy(&body));
    } else if line.starts_with('*') {
        let mut rest = vec![0u8; 4096];
        // Through the reader: the rest of the reply may already be in its buffer.
        let n = reader.read(&mut rest).unwrap_or(0);
        line.push_str(&String::from_utf8_lossy(&rest[..n]));
    }
    Ok(line)
}

// ---------------------------------------------------------------------------------------------
// JSON-lines child processes

/// A Node script driven over stdin/stdout JSON lines (`tests/js/redis-lib.mjs`).
pub struct JsProc {
    child: tokio::process::Child,
    stdin: tokio::sync::Mutex<tokio::process::ChildStdin>,
    pending: Arc<Mutex<std::collections::HashMap<u64, oneshot::Sender<Value>>>>,
    pub events: Arc<Events>,
    next_id: std::sync::atomic::AtomicU64,
    pub label: String,
}

/// Unsolicited lines of a script, kept for the test to wait on.
#[derive(Default)]
pub struct Events {
    pub list: Mutex<Vec<Value>>,
    notify: Notify,
}

impl Events {
    /// Waits until `pred` holds for the list of events, or panics after `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if pred(&self.list.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let list = self.list.lock().unwrap();
                let tail: Vec<&Value> = list.iter().rev().take(30).collect();
                panic!("timed out waiting for {what}; last events (newest first): {tail:#?}");
            }
        }
    }

    pub fn snapshot(&self) -> Vec<Value> {
        self.list.lock().unwrap().clone()
    }
}

impl JsProc {
    /// Starts `node tests/js/<script>` with these variables.
    pub async fn spawn(script: &str, label: &str, env: &[(&str, String)]) -> JsProc {
        node::prepare().await;
        let path = node::js_dir().join(script);
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(&path)
            .current_dir(node::js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning node {}: {e}", path.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let pending: Arc<Mutex<std::collections::HashMap<u64, oneshot::Sender<Value>>>> =
            Arc::default();
        let events = Arc::new(Events::default());
        let (p, e, l) = (pending.clone(), events.clone(), label.to_string());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("[{l}] {line}");
                    continue;
                };
                if let Some(id) = value.get("id").and_then(Value::as_u64) {
                    if let Some(tx) = p.lock().unwrap().remove(&id) {
                        let _ = tx.send(value);
                    }
                } else {
                    e.list.lock().unwrap().push(value);
                    e.notify.notify_waiters();
                }
            }
        });
        JsProc {
            child,
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            events,
            next_id: 1.into(),
            label: label.to_string(),
        }
    }

    /// Sends a request and waits (10 s at most) for its reply: `Ok(result)` or `Err(error)`.
    pub async fn request(&self, op: &str, params: Value) -> Result<Value, String> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut req = params;
        if !req.is_object() {
            req = json!({});
        }
        req["id"] = id.into();
        req["op"] = op.into();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut line = req.to_string();
        line.push('\n');
        self.stdin
            .lock()
            .await
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("[{}] writing a request: {e}", self.label));
        let reply = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .unwrap_or_else(|_| panic!("[{}] no reply to {op} within 10 s", self.label))
            .unwrap_or_else(|_| panic!("[{}] exited before replying to {op}", self.label));
        if reply["ok"] == true {
            Ok(reply["result"].clone())
        } else {
            Err(reply["error"].as_str().unwrap_or("?").to_string())
        }
    }

    /// Kills the process at once (SIGKILL).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// Real `socket.io-client`s, all in one Node process.
pub struct Clients {
    pub proc: JsProc,
}

/// What one client received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub client: String,
    pub ev: String,
    pub args: Value,
}

impl Clients {
    pub async fn start() -> Clients {
        let proc = JsProc::spawn("redis-clients.mjs", "clients", &[]).await;
        proc.events
            .wait_for("the clients process", Duration::from_secs(20), |e| {
                e.iter().any(|v| v["event"] == "ready")
            })
            .await;
        Clients { proc }
    }

    /// Connects a client named `name` to `url`; its socket id.
    pub async fn connect(&self, name: &str, url: &str) -> String {
        let reply = self
            .proc
            .request("connect", json!({ "name": name, "url": url }))
            .await
            .unwrap_or_else(|e| panic!("client {name} could not connect to {url}: {e}"));
        reply["sid"].as_str().unwrap_or_default().to_string()
    }

    /// Emits from a client and returns the server's ack.
    pub async fn emit(&self, name: &str, event: &str, args: Value) -> Value {
        self.proc
            .request(
                "emit",
                json!({ "name": name, "event": event, "args": args }),
            )
            .await
            .unwrap_or_else(|e| panic!("client {name} emit {event}: {e}"))
    }

    pub fn received(&self, ev: &str) -> Vec<Received> {
        self.proc
            .events
            .snapshot()
            .into_iter()
            .filter(|v| v["event"] == "recv" && v["ev"] == ev)
            .map(|v| Received {
                client: v["client"].as_str().unwrap_or_default().to_string(),
                ev: ev.to_string(),
                args: v["args"].clone(),
            })
            .collect()
    }

    /// The clients that received `ev`, sorted (each once).
    pub fn receivers(&self, ev: &str) -> BTreeSet<String> {
        self.received(ev).into_iter().map(|r| r.client).collect()
    }

    /// Waits until every one of `clients` received `ev`.
    pub async fn wait_all(&self, ev: &str, clients: &[&str]) {
        let want: Vec<String> = clients.iter().map(|c| c.to_string()).collect();
        self.proc
            .events
            .wait_for(
                &format!("{ev} at {clients:?}"),
                Duration::from_secs(10),
                |list| {
                    want.iter().all(|c| {
                        list.iter()
                            .any(|v| v["event"] == "recv" && v["ev"] == ev && v["client"] == *c)
                    })
                },
            )
            .await;
    }

    /// Waits until `client` was disconnected; the reason.
    pub async fn wait_disconnect(&self, client: &str) -> String {
        self.proc
            .events
            .wait_for(
                &format!("{client} disconnected"),
                Duration::from_secs(10),
                |list| {
                    list.iter()
                        .any(|v| v["event"] == "disconnect" && v["client"] == client)
                },
            )
            .await;
        self.proc
            .events
            .snapshot()
            .iter()
            .find(|v| v["event"] == "disconnect" && v["client"] == client)
            .and_then(|v| v["reason"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// Which sockets an operation targets.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub rooms: Vec<String>,
    pub except: Vec<String>,
    pub local: bool,
    /// The namespace (`/` when `None`).
    pub nsp: Option<String>,
}

impl Target {
    pub fn all() -> Target {
        Target::default()
    }

    pub fn to(rooms: &[&str]) -> Target {
        Target {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            ..Target::default()
        }
    }

    pub fn except(mut self, rooms: &[&str]) -> Target {
        self.except = rooms.iter().map(|r| r.to_string()).collect();
        self
    }

    pub fn local(mut self) -> Target {
        self.local = true;
        self
    }

    pub fn nsp(mut self, nsp: &str) -> Target {
        self.nsp = Some(nsp.to_string());
        self
    }

    fn json(&self) -> Value {
        json!({ "rooms": self.rooms, "except": self.except, "local": self.local, "nsp": self.nsp })
    }
}

/// A Rust cluster node: a `SocketIo` with the Redis adapter, served on `127.0.0.1:0`.
pub struct RustNode {
    pub name: String,
    pub io: SocketIo,
    pub addr: SocketAddr,
    pub server_side: Arc<Mutex<Vec<Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl RustNode {
    pub async fn start(name: &str, config: RedisAdapterConfig) -> RustNode {
        RustNode::start_with(name, config, None).await
    }

    /// A node with connection state recovery on for `recovery` (streams mode), whose sockets
    /// also do what tests/js/recovery-cross.mjs expects of a node, as redis-node.mjs does with
    /// `STREAMS=1`: `hello` on connection and `ticks` (every socket handles `set-data`).
    pub async fn start_with(
        name: &str,
        config: RedisAdapterConfig,
        recovery: Option<Duration>,
    ) -> RustNode {
        let builder = RedisAdapter::connect(config)
            .await
            .unwrap_or_else(|e| panic!("node {name}: {e}"));
        RustNode::start_with_adapter(name, builder, recovery).await
    }

    /// A node like [`start_with`](Self::start_with) on any adapter: the adapter conformance
    /// suite runs the same cluster operations on every adapter of the crate.
    pub async fn start_with_adapter(
        name: &str,
        adapter: impl tower_socketio::adapter::AdapterBuilder,
        recovery: Option<Duration>,
    ) -> RustNode {
        let mut io = SocketIo::builder().adapter(adapter);
        if let Some(window) = recovery {
            io = io.connection_state_recovery(tower_socketio::ConnectionStateRecovery {
                max_disconnection_duration: window,
                ..Default::default()
            });
        }
        let io = io.build();
        if recovery.is_some() {
            io.ns(
                "/",
                |socket: SocketRef, io: SocketIo, Data(auth): Data<Value>| {
                    on_connect(socket.clone());
                    // `{quiet: true}`: no `hello`, so the client learns no offset.
                    let quiet = auth["quiet"] == json!(true);
                    recovery_handlers(socket, io, quiet);
                },
            );
        } else {
            io.ns("/", on_connect);
        }
        io.ns("/chat", on_connect);
        fn state(socket: &SocketRef) -> Value {
            let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
            rooms.sort();
            let data = socket.data::<Value>().unwrap_or(Value::Null);
            json!({
                "recovered": socket.recovered(),
                "id": socket.id().as_str(),
                "rooms": rooms,
                "data": data,
            })
        }
        fn recovery_handlers(socket: SocketRef, io: SocketIo, quiet: bool) {
            if !quiet {
                socket.emit("hello", &state(&socket)).ok();
            }
            socket.on("whoami", |socket: SocketRef, ack: AckSender| {
                ack.send(&state(&socket)).ok();
            });
            if std::env::var_os("TSIO_TEST_CRASHABLE").is_some() {
                // A node in a process of its own (see tests/cluster/redis_crash.rs): it dies as
                // a crash does, with SIGKILL, storing nothing.
                socket.on("crash", || {
                    let me = std::process::id().to_string();
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &me])
                        .status();
                });
            }
            socket.on("ticks", move |Data(spec): Data<Value>, ack: AckSender| {
                let count = spec["count"].as_u64().unwrap_or(0).min(10_000);
                let every = spec["every_ms"].as_u64().unwrap_or(10).max(1);
                let room = spec["room"].as_str().unwrap_or("").to_string();
                let io = io.clone();
                tokio::spawn(async move {
                    for i in 0..count {
                        io.to(room.clone()).emit("tick", &i).ok();
                        tokio::time::sleep(Duration::from_millis(every)).await;
                    }
                });
                ack.send(&json!({ "count": count, "every_ms": every })).ok();
            });
        }
        fn on_connect(socket: SocketRef) {
            socket.on(
                "set-data",
                |socket: SocketRef, Data(value): Data<Value>, ack: AckSender| {
                    socket.set_data(&value).ok();
                    ack.send(&()).ok();
                },
            );
            socket.on(
                "join",
                |socket: SocketRef, Data(rooms): Data<Value>, ack: AckSender| {
                    match rooms {
                        Value::Array(rooms) => {
                            let rooms: Vec<String> = rooms
                                .iter()
                                .filter_map(|r| r.as_str().map(str::to_string))
                                .collect();
                            socket.join(rooms);
                        }
                        Value::String(room) => socket.join(room),
                        _ => {}
                    }
                    let mut rooms: Vec<String> =
                        socket.rooms().iter().map(|r| r.to_string()).collect();
                    rooms.sort();
                    ack.send(&rooms).ok();
                },
            );
            socket.on(
                "leave",
                |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                    socket.leave(room);
                    let mut rooms: Vec<String> =
                        socket.rooms().iter().map(|r| r.to_string()).collect();
                    rooms.sort();
                    ack.send(&rooms).ok();
                },
            );
        }
        let server_side = Arc::new(Mutex::new(Vec::new()));
        let (log, me) = (server_side.clone(), name.to_string());
        io.on_server_side("ping-cluster", move |args| {
            log.lock().unwrap().push(Value::Array(args.clone()));
            Some(json!({ "from": me, "args": args }))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RustNode {
            name: name.to_string(),
            io,
            addr,
            server_side,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and drops the server (its Redis connections close).
    pub fn stop(self) {
        self.server.abort();
        self.io.shutdown();
    }

    fn ops(&self, target: &Target) -> tower_socketio::operators::BroadcastOperators {
        let nsp = target.nsp.as_deref().unwrap_or("/");
        let mut op = self
            .io
            .of(nsp)
            .unwrap_or_else(|| panic!("namespace {nsp}"))
            .to(target.rooms.clone());
        if !target.except.is_empty() {
            op = op.except(target.except.clone());
        }
        if target.local {
            op = op.local();
        }
        op
    }
}

/// A Node.js cluster node (`tests/js/redis-node.mjs`).
pub struct JsNode {
    pub name: String,
    pub proc: JsProc,
    pub port: u16,
}

impl JsNode {
    /// Starts a node; `sharded` is Node's subscription mode for the sharded adapter.
    pub async fn start(name: &str, redis_url: &str, key: &str, sharded: Option<&str>) -> JsNode {
        JsNode::start_with(name, redis_url, key, sharded, false).await
    }

    /// [`start`](Self::start), answering on requesters' own response channels when `specific`
    /// (Node's `publishOnSpecificResponseChannel`).
    pub async fn start_with(
        name: &str,
        redis_url: &str,
        key: &str,
        sharded: Option<&str>,
        specific: bool,
    ) -> JsNode {
        let mut env = Vec::new();
        if specific {
            env.push(("SPECIFIC", "1".to_string()));
        }
        if let Some(mode) = sharded {
            env.push(("SHARDED", mode.to_string()));
        }
        JsNode::start_env(name, redis_url, key, env).await
    }

    /// A node with `@socket.io/redis-streams-adapter` on stream `key`, with connection state
    /// recovery on for `recovery`.
    pub async fn start_streams(
        name: &str,
        redis_url: &str,
        key: &str,
        recovery: Option<Duration>,
    ) -> JsNode {
        let mut env = vec![("STREAMS", "1".to_string())];
        if let Some(window) = recovery {
            env.push(("RECOVERY_MS", window.as_millis().to_string()));
        }
        JsNode::start_env(name, redis_url, key, env).await
    }

    /// A node on a Redis Cluster (node-redis's `createCluster` on these seed URLs), in the
    /// classic format, or the sharded one with subscription mode `sharded`, or the streams one
    /// when `streams`.
    pub async fn start_on_cluster(
        name: &str,
        seeds: &[String],
        key: &str,
        sharded: Option<&str>,
        streams: bool,
    ) -> JsNode {
        let mut env = vec![("CLUSTER_URLS", seeds.join(","))];
        if let Some(mode) = sharded {
            env.push(("SHARDED", mode.to_string()));
        }
        if streams {
            env.push(("STREAMS", "1".to_string()));
        }
        JsNode::start_env(name, &seeds[0], key, env).await
    }

    /// A node with these extra variables (`tests/js/redis-node.mjs` documents them; `PG_URL`
    /// makes it a `@socket.io/postgres-adapter` node).
    pub async fn start_env(
        name: &str,
        redis_url: &str,
        key: &str,
        extra: Vec<(&str, String)>,
    ) -> JsNode {
        let mut env = vec![
            ("REDIS_URL", redis_url.to_string()),
            ("NAME", name.to_string()),
            ("KEY", key.to_string()),
        ];
        env.extend(extra);
        let proc = JsProc::spawn("redis-node.mjs", name, &env).await;
        proc.events
            .wait_for(
                &format!("node {name} listening"),
                Duration::from_secs(20),
                |e| e.iter().any(|v| v["event"] == "listening"),
            )
            .await;
        let port = proc
            .events
            .snapshot()
            .iter()
            .find(|v| v["event"] == "listening")
            .and_then(|v| v["port"].as_u64())
            .unwrap_or_default() as u16;
        JsNode {
            name: name.to_string(),
            proc,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn call(&self, op: &str, params: Value) -> Value {
        self.proc
            .request(op, params)
            .await
            .unwrap_or_else(|e| panic!("node {}: {op} failed: {e}", self.name))
    }
}

/// Either kind of node, with the same operations.
#[allow(clippy::large_enum_variant)]
pub enum Node {
    Rust(RustNode),
    Js(JsNode),
}

/// A fetched socket: id and sorted rooms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fetched {
    pub id: String,
    pub rooms: Vec<String>,
}

fn bin_json(data: &[u8]) -> Value {
    json!({ "$bin": data.iter().map(|b| format!("{b:02x}")).collect::<String>() })
}

/// A JSON value from this crate (placeholders + attachments) in the `{"$bin": hex}` form.
fn with_bins(value: &Value, attachments: &[bytes::Bytes]) -> Value {
    match value {
        Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => map
            .get("num")
            .and_then(Value::as_u64)
            .and_then(|n| attachments.get(n as usize))
            .map_or(Value::Null, |b| bin_json(b)),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), with_bins(v, attachments)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| with_bins(v, attachments)).collect())
        }
        other => other.clone(),
    }
}

impl Node {
    pub fn name(&self) -> &str {
        match self {
            Node::Rust(n) => &n.name,
            Node::Js(n) => &n.name,
        }
    }

    pub fn url(&self) -> String {
        match self {
            Node::Rust(n) => n.url(),
            Node::Js(n) => n.url(),
        }
    }

    pub fn rust(&self) -> Option<&RustNode> {
        match self {
            Node::Rust(n) => Some(n),
            Node::Js(_) => None,
        }
    }

    /// `to(rooms).except(..).emit(event, ...args)`.
    pub async fn emit(&self, target: &Target, event: &str, args: Vec<Value>) {
        match self {
            Node::Rust(n) => n
                .ops(target)
                .emit(event, &tower_socketio::extract::Args(args))
                .expect("emit"),
            Node::Js(n) => {
                let mut p = target.json();
                p["event"] = event.into();
                p["args"] = args.into();
                n.call("emit", p).await;
            }
        }
    }

    /// Emits one binary argument (and a JSON one around it).
    pub async fn emit_bin(&self, target: &Target, event: &str, data: &[u8]) {
        match self {
            Node::Rust(n) => n
                .ops(target)
                .bin(vec![bytes::Bytes::copy_from_slice(data)])
                .emit(
                    event,
                    &json!({ "file": tower_socketio::placeholder(0), "size": data.len() }),
                )
                .expect("emit"),
            Node::Js(n) => {
                let mut p = target.json();
                p["event"] = event.into();
                p["args"] = json!([{ "file": bin_json(data), "size": data.len() }]);
                n.call("emit", p).await;
            }
        }
    }

    /// A broadcast with ack: the answers (binary as `{"$bin": hex}`), sorted by their JSON text,
    /// and whether it timed out.
    pub async fn emit_with_ack(
        &self,
        target: &Target,
        event: &str,
        timeout: Duration,
    ) -> (Vec<Value>, bool) {
        let (mut answers, timed_out) = match self {
            Node::Rust(n) => {
                let acks = n
                    .ops(target)
                    .timeout(timeout)
                    .emit_with_ack(event, &json!({"q": 1}))
                    .await
                    .expect("emit_with_ack")
                    .await;
                let mut timed_out = false;
                let mut answers = Vec::new();
                for (_, result) in acks {
                    match result {
                        Ok(r) => answers.push(with_bins(
                            r.args.first().unwrap_or(&Value::Null),
                            &r.attachments,
                        )),
                        Err(_) => timed_out = true,
                    }
                }
                (answers, timed_out)
            }
            Node::Js(n) => {
                let mut p = target.json();
                p["event"] = event.into();
                p["args"] = json!([{"q": 1}]);
                p["timeout"] = (timeout.as_millis() as u64).into();
                let r = n.call("emitWithAck", p).await;
                let answers = r["responses"].as_array().cloned().unwrap_or_default();
                (answers, !r["err"].is_null())
            }
        };
        answers.sort_by_key(|v| v.to_string());
        (answers, timed_out)
    }

    pub async fn fetch_sockets(&self, target: &Target) -> Vec<Fetched> {
        let mut out = match self {
            Node::Rust(n) => n
                .ops(target)
                .fetch_sockets()
                .await
                .expect("fetch_sockets")
                .into_iter()
                .map(|s| {
                    let mut rooms: Vec<String> = s.rooms.iter().map(|r| r.to_string()).collect();
                    rooms.sort();
                    Fetched {
                        id: s.id.to_string(),
                        rooms,
                    }
                })
                .collect(),
            Node::Js(n) => n
                .call("fetchSockets", target.json())
                .await
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|s| Fetched {
                    id: s["id"].as_str().unwrap_or_default().to_string(),
                    rooms: s["rooms"]
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .filter_map(|r| r.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect::<Vec<_>>(),
        };
        out.sort();
        out
    }

    pub async fn sockets_join(&self, target: &Target, room: &str) {
        match self {
            Node::Rust(n) => n.ops(target).join(room.to_string()).expect("join"),
            Node::Js(n) => {
                let mut p = target.json();
                p["join"] = room.into();
                n.call("socketsJoin", p).await;
            }
        }
    }

    pub async fn sockets_leave(&self, target: &Target, room: &str) {
        match self {
            Node::Rust(n) => n.ops(target).leave(room.to_string()).expect("leave"),
            Node::Js(n) => {
                let mut p = target.json();
                p["leave"] = room.into();
                n.call("socketsLeave", p).await;
            }
        }
    }

    pub async fn disconnect_sockets(&self, target: &Target, close: bool) {
        match self {
            Node::Rust(n) => n.ops(target).disconnect(close).expect("disconnect"),
            Node::Js(n) => {
                let mut p = target.json();
                p["close"] = close.into();
                n.call("disconnectSockets", p).await;
            }
        }
    }

    pub async fn server_side_emit(&self, event: &str, args: Vec<Value>) {
        match self {
            Node::Rust(n) => {
                n.io.server_side_emit(event, &tower_socketio::extract::Args(args))
                    .expect("server_side_emit")
            }
            Node::Js(n) => {
                n.call("serverSideEmit", json!({ "event": event, "args": args }))
                    .await;
            }
        }
    }

    /// The other nodes' answers, sorted by their JSON text.
    pub async fn server_side_emit_with_ack(&self, event: &str, args: Vec<Value>) -> Vec<Value> {
        let mut answers = match self {
            Node::Rust(n) => {
                n.io.server_side_emit_with_ack(event, &tower_socketio::extract::Args(args))
                    .await
                    .expect("server_side_emit_with_ack")
            }
            Node::Js(n) => {
                let r = n
                    .call(
                        "serverSideEmitWithAck",
                        json!({ "event": event, "args": args }),
                    )
                    .await;
                assert!(r["err"].is_null(), "node {}: {r}", n.name);
                r["responses"].as_array().cloned().unwrap_or_default()
            }
        };
        answers.sort_by_key(|v| v.to_string());
        answers
    }

    /// What this node's `ping-cluster` listener received: one args array per event.
    pub async fn server_side_log(&self) -> Vec<Value> {
        match self {
            Node::Rust(n) => n.server_side.lock().unwrap().clone(),
            Node::Js(n) => n
                .call("serverSideLog", json!({}))
                .await
                .as_array()
                .cloned()
                .unwrap_or_default(),
        }
    }

    pub async fn all_rooms(&self) -> BTreeSet<String> {
        match self {
            Node::Rust(n) => {
                n.io.all_rooms()
                    .await
                    .expect("all_rooms")
                    .iter()
                    .map(|r| r.to_string())
                    .collect()
            }
            Node::Js(n) => n
                .call("allRooms", json!({}))
                .await
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
        }
    }

    pub async fn server_count(&self) -> usize {
        match self {
            Node::Rust(n) => n.io.server_count().await.expect("server_count"),
            Node::Js(n) => n.call("serverCount", json!({})).await.as_u64().unwrap_or(0) as usize,
        }
    }

    /// Waits until this node counts `n` servers (errors, while Redis comes back, count as 0).
    pub async fn wait_server_count(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let count = match self {
                Node::Rust(r) => r.io.server_count().await.unwrap_or(0),
                Node::Js(_) => self.server_count().await,
            };
            if count == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} counts {count} servers, expected {n}",
                self.name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Config for a Rust node of a test cluster on `server`.
pub fn config(server: &RedisServer, mode: RedisMode) -> RedisAdapterConfig {
    RedisAdapterConfig::new(server.url())
        .mode(mode)
        .requests_timeout(Duration::from_secs(3))
}

// ---------------------------------------------------------------------------------------------
// The cluster scenario

/// The mixed-cluster scenario on `[r1, n1, r2, n2]` (Rust, Node, Rust, Node): every cluster
/// operation from every node; then the last Node node is killed outright and stops being
/// counted once its connections drop, and so does the second Rust node once it stops.
pub async fn run_mixed(nodes: Vec<Node>) {
    assert!(
        matches!(
            nodes.as_slice(),
            [Node::Rust(_), Node::Js(_), Node::Rust(_), Node::Js(_)]
        ),
        "run_mixed wants [Rust, Node, Rust, Node]"
    );
    let mut cluster = Cluster::start(nodes).await;
    for from in 0..cluster.nodes.len() {
        cluster.run_from(from).await;
    }
    let Some(Node::Js(mut n2)) = cluster.nodes.pop() else {
        unreachable!()
    };
    n2.proc.kill().await;
    for node in &cluster.nodes {
        node.wait_server_count(3).await;
    }
    let Node::Rust(r2) = cluster.nodes.remove(2) else {
        unreachable!()
    };
    r2.stop();
    for node in &cluster.nodes {
        node.wait_server_count(2).await;
    }
}

/// One client per node, named `c-<node>`, in rooms `room-c-<node>` and `g<index % 2>`.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub clients: Clients,
    /// Client name → its socket id.
    pub sids: std::collections::HashMap<String, String>,
}

fn client_of(node: &Node) -> String {
    format!("c-{}", node.name())
}

fn group(index: usize) -> String {
    format!("g{}", index % 2)
}

impl Cluster {
    /// Waits for every node to count them all, then connects the clients.
    pub async fn start(nodes: Vec<Node>) -> Cluster {
        for node in &nodes {
            node.wait_server_count(nodes.len()).await;
        }
        let clients = Clients::start().await;
        let mut cluster = Cluster {
            nodes,
            clients,
            sids: Default::default(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.connect(i).await;
        }
        cluster
    }

    /// (Re)connects the client of node `i` and puts it in its rooms.
    pub async fn connect(&mut self, i: usize) {
        let node = &self.nodes[i];
        let name = client_of(node);
        let sid = self.clients.connect(&name, &node.url()).await;
        let rooms = self
            .clients
            .emit(&name, "join", json!([[format!("room-{name}"), group(i)]]))
            .await;
        let mut want = vec![format!("room-{name}"), group(i), sid.clone()];
        want.sort();
        assert_eq!(rooms, json!(want), "rooms of {name}");
        // And, the first time, a socket in namespace /chat in the same group (disconnecting the
        // socket of `/` leaves it connected).
        if !self.sids.contains_key(&name) {
            let chat = format!("{name}-chat");
            self.clients
                .connect(&chat, &format!("{}/chat", node.url()))
                .await;
            self.clients.emit(&chat, "join", json!([group(i)])).await;
        }
        self.sids.insert(name, sid);
    }

    fn names(&self, filter: impl Fn(usize) -> bool) -> Vec<String> {
        (0..self.nodes.len())
            .filter(|i| filter(*i))
            .map(|i| client_of(&self.nodes[i]))
            .collect()
    }

    /// Emits `ev` from `from` to `target` and checks that exactly `expected` got it, once each:
    /// a barrier event from the same node, sent after it, must reach everyone first.
    pub async fn expect_delivery(
        &self,
        from: usize,
        target: &Target,
        ev: &str,
        args: Vec<Value>,
        expected: &[String],
    ) {
        let node = &self.nodes[from];
        node.emit(target, ev, args.clone()).await;
        self.check_delivery(from, ev, expected).await;
        for r in self.clients.received(ev) {
            assert_eq!(
                r.args,
                Value::Array(args.clone()),
                "{ev} args at {}",
                r.client
            );
        }
    }

    async fn check_delivery(&self, from: usize, ev: &str, expected: &[String]) {
        self.check_delivery_in(from, None, ev, expected).await;
    }

    async fn check_delivery_in(
        &self,
        from: usize,
        nsp: Option<&str>,
        ev: &str,
        expected: &[String],
    ) {
        let want: Vec<&str> = expected.iter().map(String::as_str).collect();
        self.clients.wait_all(ev, &want).await;
        let barrier = format!("barrier-{ev}");
        let mut all = Target::all();
        all.nsp = nsp.map(String::from);
        self.nodes[from].emit(&all, &barrier, vec![]).await;
        let mut everyone = self.names(|_| true);
        if nsp.is_some() {
            everyone = everyone.into_iter().map(|c| format!("{c}-chat")).collect();
        }
        let everyone: Vec<&str> = everyone.iter().map(String::as_str).collect();
        self.clients.wait_all(&barrier, &everyone).await;
        let got: Vec<String> = self
            .clients
            .received(ev)
            .into_iter()
            .map(|r| r.client)
            .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want_sorted = expected.to_vec();
        want_sorted.sort();
        assert_eq!(
            got_sorted,
            want_sorted,
            "{ev} from {}: receivers (each exactly once)",
            self.nodes[from].name()
        );
    }

    async fn wait_rooms(&self, from: usize, room: &str, members: &[String]) {
        let want: BTreeSet<String> = members.iter().map(|c| self.sids[c].clone()).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let fetched = self.nodes[from].fetch_sockets(&Target::to(&[room])).await;
            let got: BTreeSet<String> = fetched.into_iter().map(|f| f.id).collect();
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "room {room} seen from {}: {got:?}, expected {want:?}",
                self.nodes[from].name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every operation from node `from` to every node's clients.
    pub async fn run_from(&mut self, from: usize) {
        let o = self.nodes[from].name().to_string();
        let n = self.nodes.len();
        let everyone = self.names(|_| true);
        println!("== operations from {o}");

        // Server count.
        assert_eq!(
            self.nodes[from].server_count().await,
            n,
            "server count from {o}"
        );

        // Broadcast to everyone, to one room, to rooms except one, local only.
        self.expect_delivery(
            from,
            &Target::all(),
            &format!("all-{o}"),
            vec![json!("hi"), json!({"n": 1})],
            &everyone,
        )
        .await;
        self.expect_delivery(
            from,
            &Target::to(&["g0"]),
            &format!("g0-{o}"),
            vec![json!(1)],
            &self.names(|i| i % 2 == 0),
        )
        .await;
        let other = (from + 1) % n;
        let other_client = client_of(&self.nodes[other]);
        let except = format!("room-{other_client}");
        self.expect_delivery(
            from,
            &Target::to(&["g0", "g1"]).except(&[&except]),
            &format!("except-{o}"),
            vec![],
            &self.names(|i| i != other),
        )
        .await;
        self.expect_delivery(
            from,
            &Target::all().local(),
            &format!("local-{o}"),
            vec![json!(true)],
            &self.names(|i| i == from),
        )
        .await;

        // Another namespace: its sockets only, rooms included.
        let chat: Vec<String> = self
            .names(|_| true)
            .iter()
            .map(|c| format!("{c}-chat"))
            .collect();
        let ev = format!("chat-all-{o}");
        self.nodes[from]
            .emit(&Target::all().nsp("/chat"), &ev, vec![json!("chat")])
            .await;
        self.check_delivery_in(from, Some("/chat"), &ev, &chat)
            .await;
        let ev = format!("chat-g1-{o}");
        self.nodes[from]
            .emit(&Target::to(&["g1"]).nsp("/chat"), &ev, vec![])
            .await;
        let g1_chat: Vec<String> = self
            .names(|i| i % 2 == 1)
            .iter()
            .map(|c| format!("{c}-chat"))
            .collect();
        self.check_delivery_in(from, Some("/chat"), &ev, &g1_chat)
            .await;
        let fetched = self.nodes[from]
            .fetch_sockets(&Target::all().nsp("/chat"))
            .await;
        assert_eq!(fetched.len(), n, "fetch_sockets in /chat from {o}");

        // Binary data.
        let data: Vec<u8> = (0..=255u8).chain(0..10).collect();
        let ev = format!("bin-{o}");
        self.nodes[from].emit_bin(&Target::all(), &ev, &data).await;
        self.check_delivery(from, &ev, &everyone).await;
        for r in self.clients.received(&ev) {
            assert_eq!(
                r.args,
                json!([{ "file": bin_json(&data), "size": data.len() }]),
                "binary broadcast from {o} at {}",
                r.client
            );
        }

        // Broadcast with ack, JSON and binary answers, from every client of every node.
        let (answers, timed_out) = self.nodes[from]
            .emit_with_ack(&Target::all(), "ask", Duration::from_secs(3))
            .await;
        let mut want: Vec<Value> = everyone.iter().map(|c| json!({ "from": c })).collect();
        want.sort_by_key(|v| v.to_string());
        assert_eq!(answers, want, "broadcast with ack from {o}");
        assert!(!timed_out, "broadcast with ack from {o} timed out");
        let (answers, timed_out) = self.nodes[from]
            .emit_with_ack(&Target::to(&["g1"]), "ask-bin", Duration::from_secs(3))
            .await;
        let mut want: Vec<Value> = self
            .names(|i| i % 2 == 1)
            .iter()
            .map(|c| bin_json(c.as_bytes()))
            .collect();
        want.sort_by_key(|v| v.to_string());
        assert_eq!(answers, want, "binary acks from {o}");
        assert!(!timed_out);

        // Fetch sockets: everyone, one room; then emit to a remote socket by its id.
        let fetched = self.nodes[from].fetch_sockets(&Target::all()).await;
        let mut want: Vec<Fetched> = (0..n)
            .map(|i| {
                let c = client_of(&self.nodes[i]);
                let sid = self.sids[&c].clone();
                let mut rooms = vec![format!("room-{c}"), group(i), sid.clone()];
                rooms.sort();
                Fetched { id: sid, rooms }
            })
            .collect();
        want.sort();
        assert_eq!(fetched, want, "fetch_sockets from {o}");
        let fetched = self.nodes[from].fetch_sockets(&Target::to(&["g1"])).await;
        assert_eq!(
            fetched.len(),
            self.names(|i| i % 2 == 1).len(),
            "fetch in g1 from {o}"
        );
        let remote = self.sids[&other_client].clone();
        self.expect_delivery(
            from,
            &Target::to(&[remote.as_str()]),
            &format!("direct-{o}"),
            vec![json!("you")],
            std::slice::from_ref(&other_client),
        )
        .await;

        // Remote join and leave.
        let joined = format!("j-{o}");
        self.nodes[from]
            .sockets_join(&Target::to(&["g0"]), &joined)
            .await;
        let g0 = self.names(|i| i % 2 == 0);
        self.wait_rooms(from, &joined, &g0).await;
        self.expect_delivery(
            from,
            &Target::to(&[&joined]),
            &format!("joined-{o}"),
            vec![],
            &g0,
        )
        .await;
        let rooms = self.nodes[from].all_rooms().await;
        assert!(
            rooms.contains(&joined),
            "all_rooms from {o} lacks {joined}: {rooms:?}"
        );
        for c in &everyone {
            assert!(
                rooms.contains(&format!("room-{c}")),
                "all_rooms from {o} lacks room-{c}"
            );
            assert!(
                rooms.contains(&self.sids[c]),
                "all_rooms from {o} lacks {c}'s id"
            );
        }
        self.nodes[from]
            .sockets_leave(&Target::to(&[&joined]), &joined)
            .await;
        self.wait_rooms(from, &joined, &[]).await;
        let rooms = self.nodes[from].all_rooms().await;
        assert!(
            !rooms.contains(&joined),
            "all_rooms from {o} still has {joined}"
        );

        // Server-side emit, without and with acks.
        let mut before = Vec::new();
        for node in &self.nodes {
            before.push(node.server_side_log().await.len());
        }
        self.nodes[from]
            .server_side_emit("ping-cluster", vec![json!(o), json!({"k": 1})])
            .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, node) in self.nodes.iter().enumerate() {
            let want = before[i] + usize::from(i != from);
            loop {
                let log = node.server_side_log().await;
                if log.len() == want {
                    if i != from {
                        assert_eq!(
                            log.last(),
                            Some(&json!([o, {"k": 1}])),
                            "server-side emit at {}",
                            node.name()
                        );
                    }
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "server-side emit from {o} at {}: {log:?}",
                    node.name()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let answers = self.nodes[from]
            .server_side_emit_with_ack("ping-cluster", vec![json!("ack?")])
            .await;
        let mut want: Vec<Value> = (0..n)
            .filter(|i| *i != from)
            .map(|i| json!({ "from": self.nodes[i].name(), "args": ["ack?"] }))
            .collect();
        want.sort_by_key(|v| v.to_string());
        assert_eq!(answers, want, "server-side emit with ack from {o}");

        // Disconnect a remote socket, then bring its client back.
        let room = format!("room-{other_client}");
        self.nodes[from]
            .disconnect_sockets(&Target::to(&[&room]), false)
            .await;
        let reason = self.clients.wait_disconnect(&other_client).await;
        assert_eq!(reason, "io server disconnect", "disconnect from {o}");
        self.clients
            .proc
            .events
            .list
            .lock()
            .unwrap()
            .retain(|v| v["event"] != "disconnect");
        self.connect(other).await;
        for node in &self.nodes {
            node.wait_server_count(n).await;
        }
        println!("== operations from {o}: ok");
    }
}

// ---------------------------------------------------------------------------------------------
// A raw subscriber

/// A plain RESP2 connection subscribed to one channel, collecting what is published on it.
pub struct RawSubscriber {
    pub messages: Arc<Mutex<Vec<Vec<u8>>>>,
    stream: TcpStream,
}

impl RawSubscriber {
    pub fn new(port: u16, channel: &str) -> RawSubscriber {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            stream,
            "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
            channel.len()
        )
        .expect("subscribe");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let out = messages.clone();
        // The confirmation first, then one message per publication.
        let _ = read_resp(&mut reader);
        std::thread::spawn(move || {
            while let Some(items) = read_resp(&mut reader) {
                if items.len() == 3 && items[0] == b"message" {
                    out.lock().unwrap().push(items[2].clone());
                }
            }
        });
        RawSubscriber { messages, stream }
    }

    /// Waits for a message that satisfies `pred`, as JSON.
    pub async fn wait_json(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .messages
                .lock()
                .unwrap()
                .iter()
                .filter_map(|m| serde_json::from_slice::<Value>(m).ok())
                .find(|v| pred(v));
            if let Some(v) = found {
                return v;
            }
            assert!(Instant::now() < deadline, "no message {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RawSubscriber {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// One RESP2 array of bulk strings and integers (integers as their text).
fn read_resp(reader: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let n: usize = line.strip_prefix('*')?.trim().parse().ok()?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if let Some(len) = line.strip_prefix('$') {
            let len: usize = len.trim().parse().ok()?;
            let mut buf = vec![0u8; len + 2];
            reader.read_exact(&mut buf).ok()?;
            buf.truncate(len);
            items.push(buf);
        } else {
            items.push(line.trim().trim_start_matches(':').as_bytes().to_vec());
        }
    }
    Some(items)
}

// ---------------------------------------------------------------------------------------------
// Cross-node latency

/// Broadcasts from `from`, one at a time, 1 000 times, to a WebSocket client of `to`; the
/// latencies. Every broadcast must arrive, in order.
pub async fn measure_latency(from: &RustNode, to: &RustNode) -> Vec<Duration> {
    use super::sio::{SioClient, Transport};
    const ROUNDS: u64 = 1000;
    let target = super::Target {
        addr: to.addr.to_string(),
    };
    let mut client = SioClient::open(&target, Transport::WebSocket).await;
    client.connect("/", None).await;
    // The client's socket is known to `to` once the CONNECT was answered; warm up both paths.
    for _ in 0..20 {
        from.io.emit("warm", &()).expect("emit");
        client.expect_event("/", "warm").await;
    }
    let mut latencies = Vec::with_capacity(ROUNDS as usize);
    for i in 0..ROUNDS {
        let started = Instant::now();
        from.io.emit("lat", &i).expect("emit");
        let (data, _) = client.expect_event("/", "lat").await;
        latencies.push(started.elapsed());
        assert_eq!(data, json!(["lat", i]), "broadcast {i}");
    }
    latencies
}

/// `<engine>: N broadcasts, median …, p99 …, max …`.
pub fn latency_summary(engine: &str, mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "{engine}: {} broadcasts, median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latencies.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    )
}
