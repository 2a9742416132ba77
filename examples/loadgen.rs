//! A load generator for Socket.IO v4 servers (Engine.IO v4, Socket.IO v5 wire protocol), written
//! against the wire, not against this crate: WebSocket through tokio-tungstenite, long-polling
//! through hand-written HTTP/1.1. It drives the handlers of `examples/bench_server.rs` and of
//! `tests/js/bench-server.mjs` (`echo`, `ack`, `join`, `broadcast`) and reads the server's CPU
//! time and RSS from `/proc/<pid>` when given `--server-pid`.
//!
//! ```text
//! cargo build --release --example loadgen --example bench_server
//! target/release/examples/bench_server &                 # or: node tests/js/bench-server.mjs
//! target/release/examples/loadgen suite --server-pid $!  # every scenario, aligned text
//! target/release/examples/loadgen echo --clients 50 --duration 5 --json
//! target/release/examples/loadgen --help
//! ```
//!
//! Loopback only (the target must be in 127.0.0.0/8). Every loop is bounded in count and in
//! time, and every scenario has a hard deadline: the program always ends by itself.
//! `benches/README.md` explains every figure.

use std::collections::BTreeMap;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;
type Ws = WebSocketStream<TcpStream>;

const USAGE: &str = "\
usage: loadgen [OPTIONS] SCENARIO

scenarios:
  connect   open --conns sockets, --inflight at a time, hold them --hold s, close them:
            connections/s, server CPU per connection, server RSS per connection
  echo      --clients sockets in closed loops emitting `echo` and waiting for it back
  ack       same with `ack` and the server's acknowledgement
  broadcast --receivers sockets in a room, one sender, at most --window broadcasts in flight:
            deliveries/s, delivery latency from the payload's timestamp, lost deliveries
  paced     the same room, the sender paced to --rate deliveries/s (50 broadcasts/s to 1 000)
  cross     paced, with the sender on another node of a cluster (--sender-url): every broadcast
            crosses the adapter; CPU per delivery on both nodes with --sender-pid
  polling   --polling-clients long-polling sessions in closed loops emitting `echo`
  idle      connect with --idle sockets (e.g. 100000), --idle-inflight at a time, held --idle-hold s
  suite     connect, echo, ack, broadcast, paced, polling (and idle if --idle N > 0)

options (defaults in brackets):
  --url URL               server, loopback only [http://127.0.0.1:3000]
  --path PATH             Socket.IO path [/socket.io/]
  --server-pid PID        read the server's CPU time and RSS from /proc/PID
  --sender-url URL        cross: the node the sender connects to, loopback only
  --sender-pid PID        cross: read that node's CPU time too
  --json                  one JSON object per scenario instead of aligned text
  --label TEXT            copied into every result [\"\"]
  --src-ips N             source addresses 127.0.0.1 .. 127.0.0.N, round robin [16]
  --conns N               connect: sockets [10000]
  --inflight K            connect: handshakes in flight [100]
  --hold S                connect: seconds held before reading RSS [1]
  --clients C             echo/ack: clients [50]
  --polling-clients C     polling: clients [20]
  --warmup S              seconds of load before measuring (echo/ack/broadcast/paced/polling) [1]
  --duration S            measured seconds (echo/ack/broadcast/polling) [5]
  --paced-duration S      measured seconds (paced) [10]
  --max N                 measured messages/broadcasts at most, per scenario [10000000]
  --receivers R           broadcast/paced: receivers [1000]
  --window W              broadcast: broadcasts in flight at most [16]
  --rate D                paced: deliveries/s [50000]
  --payload B             bytes of padding in each payload [64]
  --idle N                idle: sockets (0: idle is left out of the suite) [0]
  --idle-inflight K       idle: handshakes in flight [200]
  --idle-hold S           idle: seconds held before reading RSS [5]; the server's CPU over the
                          hold is its cost at idle (heartbeats every 25 s by default)
  --idle-broadcast        idle: the sockets join room `idle`, and after the hold one broadcast
                          to the room measures the time until every socket has it
  --timeout S             hard deadline of each scenario (connect: 2x, idle: 10x) [120]
";

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Clone, Debug)]
struct Opts {
    addr: SocketAddrV4,
    path: String,
    server_pid: Option<u32>,
    sender_addr: Option<SocketAddrV4>,
    sender_pid: Option<u32>,
    json: bool,
    label: String,
    src_ips: u8,
    conns: usize,
    inflight: usize,
    hold: f64,
    clients: usize,
    polling_clients: usize,
    warmup: f64,
    duration: f64,
    paced_duration: f64,
    max: u64,
    receivers: usize,
    window: u64,
    rate: f64,
    payload: usize,
    idle: usize,
    idle_inflight: usize,
    idle_hold: f64,
    idle_broadcast: bool,
    timeout: f64,
    scenario: String,
}

fn parse_opts() -> Res<Opts> {
    let mut o = Opts {
        addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3000),
        path: "/socket.io/".into(),
        server_pid: None,
        sender_addr: None,
        sender_pid: None,
        json: false,
        label: String::new(),
        src_ips: 16,
        conns: 10_000,
        inflight: 100,
        hold: 1.0,
        clients: 50,
        polling_clients: 20,
        warmup: 1.0,
        duration: 5.0,
        paced_duration: 10.0,
        max: 10_000_000,
        receivers: 1000,
        window: 16,
        rate: 50_000.0,
        payload: 64,
        idle: 0,
        idle_inflight: 200,
        idle_hold: 5.0,
        idle_broadcast: false,
        timeout: 120.0,
        scenario: String::new(),
    };
    let mut args = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Res<T> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: cannot parse {v:?}").into())
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--url" => o.addr = loopback_url(&a, args.next())?,
            "--sender-url" => o.sender_addr = Some(loopback_url(&a, args.next())?),
            "--sender-pid" => o.sender_pid = Some(num(&a, args.next())?),
            "--path" => o.path = args.next().ok_or("--path needs a value")?,
            "--server-pid" => o.server_pid = Some(num(&a, args.next())?),
            "--json" => o.json = true,
            "--label" => o.label = args.next().ok_or("--label needs a value")?,
            "--src-ips" => o.src_ips = num::<u8>(&a, args.next())?.clamp(1, 250),
            "--conns" => o.conns = num(&a, args.next())?,
            "--inflight" => o.inflight = num::<usize>(&a, args.next())?.max(1),
            "--hold" => o.hold = num(&a, args.next())?,
            "--clients" => o.clients = num::<usize>(&a, args.next())?.max(1),
            "--polling-clients" => o.polling_clients = num::<usize>(&a, args.next())?.max(1),
            "--warmup" => o.warmup = num(&a, args.next())?,
            "--duration" => o.duration = num(&a, args.next())?,
            "--paced-duration" => o.paced_duration = num(&a, args.next())?,
            "--max" => o.max = num::<u64>(&a, args.next())?.max(1),
            "--receivers" => o.receivers = num::<usize>(&a, args.next())?.max(1),
            "--window" => o.window = num::<u64>(&a, args.next())?.clamp(1, 1024),
            "--rate" => o.rate = num::<f64>(&a, args.next())?.max(1.0),
            "--payload" => o.payload = num(&a, args.next())?,
            "--idle" => o.idle = num(&a, args.next())?,
            "--idle-inflight" => o.idle_inflight = num::<usize>(&a, args.next())?.max(1),
            "--idle-hold" => o.idle_hold = num(&a, args.next())?,
            "--idle-broadcast" => o.idle_broadcast = true,
            "--timeout" => o.timeout = num(&a, args.next())?,
            s if !s.starts_with('-') && o.scenario.is_empty() => o.scenario = s.to_owned(),
            s => return Err(format!("unknown argument {s:?} (see --help)").into()),
        }
    }
    if o.scenario.is_empty() {
        return Err("no scenario given (see --help)".into());
    }
    for (name, secs) in [
        ("--hold", o.hold),
        ("--warmup", o.warmup),
        ("--duration", o.duration),
        ("--paced-duration", o.paced_duration),
        ("--idle-hold", o.idle_hold),
        ("--timeout", o.timeout),
    ] {
        if !(0.0..=3600.0).contains(&secs) {
            return Err(format!("{name} must be between 0 and 3600 seconds").into());
        }
    }
    Ok(o)
}

/// `http://IPv4:PORT` (or `ws://`) on a loopback address.
fn loopback_url(name: &str, value: Option<String>) -> Res<SocketAddrV4> {
    let url = value.ok_or_else(|| format!("{name} needs a value"))?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| format!("{name} must start with http:// or ws://"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddrV4 = hostport
        .parse()
        .map_err(|_| format!("{name}: expected http://IPv4:PORT, got {url}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{name}: {} is not a loopback address", addr.ip()).into());
    }
    Ok(addr)
}

impl Opts {
    /// Source address of the i-th connection: 127.0.0.1 .. 127.0.0.N, round robin. Each address
    /// has its own ~28 000 ephemeral ports.
    fn src(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 1 + (i % self.src_ips as usize) as u8)
    }

    fn ws_url(&self) -> String {
        format!("ws://{}{}?EIO=4&transport=websocket", self.addr, self.path)
    }

    fn padding(&self) -> String {
        "x".repeat(self.payload)
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring: clock, /proc, histograms, errors

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the program started: the timestamp carried in broadcast payloads.
fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// /proc reports CPU times in USER_HZ ticks, which Linux fixes at 100 on every mainstream
/// architecture (it is not the kernel's HZ).
fn clk_tck() -> f64 {
    100.0
}

/// utime + stime of every thread of `pid` (dead ones included), in seconds.
fn proc_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck())
}

/// VmRSS of `pid`, in KiB.
fn proc_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A TcpExt counter of /proc/net/netstat (system-wide): ListenOverflows counts connections
/// refused because a listener's accept queue was full (the client retries its SYN a second later).
fn tcp_ext(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines();
    while let (Some(keys), Some(values)) = (lines.next(), lines.next()) {
        if keys.starts_with("TcpExt:") {
            let i = keys.split_whitespace().position(|k| k == name)?;
            return values.split_whitespace().nth(i)?.parse().ok();
        }
    }
    None
}

/// A point in time with the server's and our own CPU time.
#[derive(Clone, Copy)]
struct Snap {
    at: Instant,
    server_cpu: Option<f64>,
    sender_cpu: Option<f64>,
    self_cpu: Option<f64>,
}

fn snap(o: &Opts) -> Snap {
    Snap {
        at: Instant::now(),
        server_cpu: o.server_pid.and_then(proc_cpu),
        sender_cpu: o.sender_pid.and_then(proc_cpu),
        self_cpu: proc_cpu(std::process::id()),
    }
}

/// Wall time, server CPU and load generator CPU between two snapshots, divided by `units`.
fn window(res: &mut Map<String, Value>, a: Snap, b: Snap, units: u64, unit: &str) {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    res.insert("unit".into(), json!(unit));
    res.insert("units".into(), json!(units));
    res.insert("wall_s".into(), json!(round(wall, 3)));
    res.insert(
        "rate_per_s".into(),
        json!(round(units as f64 / wall.max(1e-9), 1)),
    );
    if let (Some(x), Some(y)) = (a.server_cpu, b.server_cpu) {
        let cpu = y - x;
        res.insert("srv_cpu_s".into(), json!(round(cpu, 3)));
        res.insert(
            "srv_cpu_pct".into(),
            json!(round(100.0 * cpu / wall.max(1e-9), 1)),
        );
        if units > 0 {
            res.insert(
                "srv_cpu_us_per_unit".into(),
                json!(round(cpu * 1e6 / units as f64, 3)),
            );
        }
    }
    if let (Some(x), Some(y)) = (a.sender_cpu, b.sender_cpu)
        && units > 0
    {
        res.insert(
            "sender_cpu_us_per_unit".into(),
            json!(round((y - x) * 1e6 / units as f64, 3)),
        );
    }
    if let (Some(x), Some(y)) = (a.self_cpu, b.self_cpu) {
        res.insert(
            "lg_cpu_pct".into(),
            json!(round(100.0 * (y - x) / wall.max(1e-9), 1)),
        );
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// A log-linear histogram of microseconds: exact below 1 024 µs, 64 buckets per power of two
/// above (at most 1.6 % off).
#[derive(Clone)]
struct Hist {
    counts: Vec<u32>,
    n: u64,
    max: u64,
}

const LINEAR: usize = 1024;
const MAX_POW: usize = 40;

impl Hist {
    fn new() -> Self {
        Hist {
            counts: vec![0; LINEAR + (MAX_POW - 9) * 64],
            n: 0,
            max: 0,
        }
    }

    fn record(&mut self, us: u64) {
        let us = us.min((1u64 << (MAX_POW + 1)) - 1);
        let i = if us < LINEAR as u64 {
            us as usize
        } else {
            let p = 63 - us.leading_zeros() as usize;
            LINEAR + (p - 10) * 64 + ((us >> (p - 6)) & 63) as usize
        };
        self.counts[i] = self.counts[i].saturating_add(1);
        self.n += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..1), the middle of its bucket.
    fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                if i < LINEAR {
                    return i as u64;
                }
                let p = 10 + (i - LINEAR) / 64;
                let sub = ((i - LINEAR) % 64) as u64;
                let width = 1u64 << (p - 6);
                return ((64 + sub) << (p - 6)) + width / 2;
            }
        }
        self.max
    }

    fn report(&self, res: &mut Map<String, Value>, prefix: &str) {
        res.insert(format!("{prefix}samples"), json!(self.n));
        res.insert(format!("{prefix}p50_us"), json!(self.quantile(0.50)));
        res.insert(format!("{prefix}p99_us"), json!(self.quantile(0.99)));
        res.insert(format!("{prefix}max_us"), json!(self.max));
    }
}

/// Errors by kind, counted.
#[derive(Default)]
struct Errors(Mutex<BTreeMap<String, u64>>);

impl Errors {
    fn add(&self, context: &str, e: impl std::fmt::Display) {
        let mut kind = format!("{context}: {e}");
        if kind.len() > 100 {
            let mut cut = 100;
            while !kind.is_char_boundary(cut) {
                cut -= 1;
            }
            kind.truncate(cut);
        }
        *self.0.lock().unwrap().entry(kind).or_default() += 1;
    }

    fn report(&self, res: &mut Map<String, Value>) {
        let map = self.0.lock().unwrap();
        res.insert("errors".into(), json!(map.values().sum::<u64>()));
        if !map.is_empty() {
            res.insert("error_kinds".into(), json!(*map));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections: TCP from a chosen source address, WebSocket, Engine.IO / Socket.IO handshakes

async fn tcp_connect(o: &Opts, src: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // Each source address has its own ~28 000 ephemeral ports; spreading connections over
    // several 127.0.0.x addresses is what lets one machine hold 100 000 of them.
    socket.bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))?;
    let stream = socket.connect(SocketAddr::V4(o.addr)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: 100 000 connections in this process must stay cheap.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// The next text frame; an error when the connection ends.
async fn next_text(ws: &mut Ws) -> Res<tokio_tungstenite::tungstenite::Utf8Bytes> {
    loop {
        match ws.next().await {
            None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(format!("websocket error: {e}").into()),
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Close(f))) => {
                return Err(format!(
                    "closed by the server ({})",
                    f.map_or_else(|| "no code".into(), |f| format!("{} {}", f.code, f.reason))
                )
                .into());
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// What to do with a frame that is not the one awaited: answer pings, fail on a disconnect.
async fn other_frame(ws: &mut Ws, frame: &str) -> Res<()> {
    match frame {
        "2" => ws.send(Message::text("3")).await.map_err(Into::into),
        "1" => Err("engine.io close from the server".into()),
        f if f.starts_with("41") => Err("socket.io disconnect from the server".into()),
        _ => Ok(()),
    }
}

/// A Socket.IO socket in namespace `/` over a WebSocket-only Engine.IO session.
async fn sio_connect(o: &Opts, src: Ipv4Addr) -> Res<Ws> {
    let tcp = tcp_connect(o, src)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(o.ws_url(), tcp, Some(ws_config()))
            .await
            .map_err(|e| format!("websocket handshake: {e}"))?;
    let open = next_text(&mut ws).await?;
    if !open.starts_with('0') {
        return Err(format!(
            "expected the engine.io open packet, got {:.40}",
            open.as_str()
        )
        .into());
    }
    ws.send(Message::text("40")).await?;
    loop {
        let frame = next_text(&mut ws).await?;
        if frame.starts_with("40") {
            return Ok(ws);
        }
        if frame.starts_with("44") {
            return Err(format!("connect_error {:.60}", frame.as_str()).into());
        }
        other_frame(&mut ws, &frame).await?;
    }
}

/// Closes a WebSocket politely and waits (briefly) for the server to end the TCP connection,
/// so that TIME_WAIT lands on the server's side.
async fn ws_close(mut ws: Ws) {
    let _ = timeout(Duration::from_secs(3), async {
        if ws.close(None).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Joins `room` and waits for the acknowledgement.
async fn sio_join(ws: &mut Ws, room: &str) -> Res<()> {
    ws.send(Message::text(format!("420[\"join\",\"{room}\"]")))
        .await?;
    loop {
        let frame = next_text(ws).await?;
        if frame.starts_with("430") {
            return Ok(());
        }
        other_frame(ws, &frame).await?;
    }
}

/// A number after `"key":` in a JSON text (our own payloads only).
fn field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
    text[at..at + digits].parse().ok()
}

fn payload(seq: u64, pad: &str) -> String {
    format!(r#"{{"s":{seq},"t":{},"d":"{pad}"}}"#, now_us())
}

/// Connects `n` sockets, `inflight` at a time, optionally joining `room`.
async fn connect_many(
    o: &Arc<Opts>,
    n: usize,
    inflight: usize,
    room: Option<&'static str>,
) -> Res<Vec<Ws>> {
    let sem = Arc::new(Semaphore::new(inflight));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (o, sem) = (o.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut ws = timeout(Duration::from_secs(20), sio_connect(&o, o.src(i)))
                .await
                .map_err(|_| "connect timed out")??;
            if let Some(room) = room {
                timeout(Duration::from_secs(20), sio_join(&mut ws, room))
                    .await
                    .map_err(|_| "join timed out")??;
            }
            Res::Ok(ws)
        }));
    }
    let mut out = Vec::with_capacity(n);
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(ws)) => out.push(ws),
            Ok(Err(e)) => first_error = first_error.or(Some(e.to_string())),
            Err(e) => first_error = first_error.or(Some(e.to_string())),
        }
    }
    if out.len() < n {
        for ws in out {
            ws_close(ws).await;
        }
        return Err(format!(
            "could connect only some of {n} sockets; first error: {}",
            first_error.unwrap_or_default()
        )
        .into());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Scenario: connect (and idle)

/// `n` sockets opened `inflight` at a time and held (answering pings) until closed.
struct Pass {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    connected: u64,
    failed: u64,
    dropped: Arc<AtomicU64>,
    setup: Hist,
    listen_overflows: Option<u64>,
    s0: Snap,
    s1: Snap,
}

async fn open_pass(
    o: &Arc<Opts>,
    n: usize,
    inflight: usize,
    errors: &Arc<Errors>,
    limit: Duration,
    fanout: Option<&Arc<Fanout>>,
) -> Pass {
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let setup = Arc::new(Mutex::new(Hist::new()));
    let sem = Arc::new(Semaphore::new(inflight));
    let (stop_tx, stop_rx) = watch::channel(false);
    let overflows0 = tcp_ext("ListenOverflows");
    let s0 = snap(o);
    let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(n);
    for i in 0..n {
        let (o, sem, errors) = (o.clone(), sem.clone(), errors.clone());
        let (connected, failed, dropped, setup) = (
            connected.clone(),
            failed.clone(),
            dropped.clone(),
            setup.clone(),
        );
        let mut stop = stop_rx.clone();
        let fanout = fanout.cloned();
        tasks.push(tokio::spawn(async move {
            let Ok(permit) = sem.acquire_owned().await else {
                return;
            };
            let start = Instant::now();
            let ws = match timeout(Duration::from_secs(20), sio_connect(&o, o.src(i))).await {
                Ok(Ok(mut ws)) if fanout.is_some() => {
                    // No acknowledgement asked: the broadcast comes long after the join.
                    if let Err(e) = ws.send(Message::text(r#"42["join","idle"]"#)).await {
                        errors.add("join", e);
                        failed.fetch_add(1, Relaxed);
                        return;
                    }
                    ws
                }
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    errors.add("connect", e);
                    failed.fetch_add(1, Relaxed);
                    return;
                }
                Err(_) => {
                    errors.add("connect", "timed out after 20 s");
                    failed.fetch_add(1, Relaxed);
                    return;
                }
            };
            setup
                .lock()
                .unwrap()
                .record(start.elapsed().as_micros() as u64);
            drop(permit);
            connected.fetch_add(1, Relaxed);
            hold_socket(ws, &mut stop, &errors, &dropped, fanout.as_deref()).await;
        }));
    }
    // All connected (or failed), bounded in time.
    let deadline = Instant::now() + limit;
    while connected.load(Relaxed) + failed.load(Relaxed) < n as u64 && Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
    }
    let s1 = snap(o);
    let setup = setup.lock().unwrap().clone();
    Pass {
        tasks,
        stop: stop_tx,
        connected: connected.load(Relaxed),
        failed: failed.load(Relaxed),
        dropped,
        setup,
        listen_overflows: overflows0
            .zip(tcp_ext("ListenOverflows"))
            .map(|(a, b)| b.saturating_sub(a)),
        s0,
        s1,
    }
}

/// Closes every socket of a pass; the server's CPU time per close.
async fn close_pass(o: &Opts, pass: Pass, errors: &Errors) -> Option<f64> {
    let s2 = snap(o);
    let _ = pass.stop.send(true);
    let deadline = Instant::now() + Duration::from_secs(60);
    for t in pass.tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if timeout(left, t).await.is_err() {
            errors.add("teardown", "timed out");
            break;
        }
    }
    sleep(Duration::from_millis(500)).await;
    let s3 = snap(o);
    let cpu = s3.server_cpu? - s2.server_cpu?;
    (pass.connected > 0).then(|| round(cpu * 1e6 / pass.connected as f64, 2))
}

/// connect: a pass from a fresh server (RSS per connection, and "cold" figures: the first
/// connections of a Node server run before its JIT has warmed up), then a second pass whose
/// connection rate and CPU time are the headline. idle: the first pass only.
async fn scenario_connect(
    o: Arc<Opts>,
    name: &str,
    n: usize,
    inflight: usize,
    hold: f64,
) -> Res<Map<String, Value>> {
    let mut res = Map::new();
    // Warm-up: a few connections made and closed, not measured.
    let warm = connect_many(&o, n.min(200), inflight, None).await?;
    for ws in warm {
        ws_close(ws).await;
    }
    sleep(Duration::from_millis(500)).await;
    let errors = Arc::new(Errors::default());

    let rss0 = o.server_pid.and_then(proc_rss_kb);
    // Bounded: a fifth of the scenario's hard deadline per pass.
    let limit =
        Duration::from_secs_f64(o.timeout.max(10.0) * if name == "idle" { 2.0 } else { 0.2 });
    let fanout = (name == "idle" && o.idle_broadcast).then(|| Arc::new(Fanout::new()));
    let first = open_pass(&o, n, inflight, &errors, limit, fanout.as_ref()).await;
    let up = first.connected;
    let mut cold = Map::new();
    window(&mut cold, first.s0, first.s1, up, "connection");
    // Idle: the sockets only answer pings.
    let held = snap(&o);
    sleep(Duration::from_secs_f64(hold)).await;
    let rss1 = o.server_pid.and_then(proc_rss_kb);
    let alive = up - first.dropped.load(Relaxed);
    if name == "idle" {
        idle_cpu(&mut res, held, snap(&o), alive);
    }
    if let Some(fanout) = &fanout {
        fanout.measure(&o, alive, &errors, &mut res).await;
    }
    let mut disconnects = first.dropped.load(Relaxed);
    let (failed, setup, overflows) = (first.failed, first.setup.clone(), first.listen_overflows);
    let teardown = close_pass(&o, first, &errors).await;

    let second = if name == "connect" {
        sleep(Duration::from_millis(500)).await;
        let second = open_pass(&o, n, inflight, &errors, limit, None).await;
        window(
            &mut res,
            second.s0,
            second.s1,
            second.connected,
            "connection",
        );
        res.insert("conns".into(), json!(n));
        res.insert("inflight".into(), json!(inflight));
        res.insert("connected".into(), json!(second.connected));
        res.insert("failed".into(), json!(failed + second.failed));
        second.setup.report(&mut res, "setup_");
        for key in ["rate_per_s", "srv_cpu_us_per_unit", "srv_cpu_pct"] {
            if let Some(v) = cold.get(key) {
                res.insert(format!("cold_{key}"), v.clone());
            }
        }
        Some(second)
    } else {
        res.extend(cold);
        res.insert("conns".into(), json!(n));
        res.insert("inflight".into(), json!(inflight));
        res.insert("connected".into(), json!(up));
        res.insert("failed".into(), json!(failed));
        setup.report(&mut res, "setup_");
        None
    };
    if let Some(v) = overflows {
        res.insert("listen_overflows".into(), json!(v));
    }
    if let (Some(a), Some(b)) = (rss0, rss1) {
        res.insert("rss_before_kb".into(), json!(a));
        res.insert("rss_after_kb".into(), json!(b));
        if up > 0 {
            res.insert(
                "rss_per_conn_kb".into(),
                json!(round((b as f64 - a as f64) / up as f64, 2)),
            );
        }
    }
    res.insert("alive_after_hold".into(), json!(alive));
    if let Some(t) = teardown {
        res.insert("teardown_cpu_us_per_conn".into(), json!(t));
    }
    if let Some(second) = second {
        disconnects += second.dropped.load(Relaxed);
        close_pass(&o, second, &errors).await;
    }
    res.insert("disconnects".into(), json!(disconnects));
    errors.report(&mut res);
    Ok(res)
}

/// Keeps a socket alive (answers pings) until `stop`, then closes it.
async fn hold_socket(
    mut ws: Ws,
    stop: &mut watch::Receiver<bool>,
    errors: &Errors,
    dropped: &AtomicU64,
    fanout: Option<&Fanout>,
) {
    loop {
        let frame = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            frame = next_text(&mut ws) => frame,
        };
        let r = match frame {
            Ok(f) if f.starts_with(r#"42["bcast""#) => {
                if let Some(fanout) = fanout {
                    fanout.arrived();
                }
                Ok(())
            }
            Ok(f) => other_frame(&mut ws, &f).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            errors.add("idle socket", e);
            dropped.fetch_add(1, Relaxed);
            return;
        }
    }
    ws_close(ws).await;
}

/// The server's CPU time while `alive` sockets only answered heartbeats.
fn idle_cpu(res: &mut Map<String, Value>, a: Snap, b: Snap, alive: u64) {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if let (Some(x), Some(y)) = (a.server_cpu, b.server_cpu) {
        res.insert("idle_wall_s".into(), json!(round(wall, 1)));
        res.insert(
            "idle_srv_cpu_pct".into(),
            json!(round(100.0 * (y - x) / wall.max(1e-9), 2)),
        );
        if alive > 0 {
            res.insert(
                "idle_srv_cpu_us_per_conn_per_s".into(),
                json!(round((y - x) * 1e6 / wall.max(1e-9) / alive as f64, 3)),
            );
        }
    }
}

/// idle --idle-broadcast: when each socket of room `idle` got the one broadcast.
struct Fanout {
    sent: OnceLock<Instant>,
    received: AtomicU64,
    hist: Mutex<Hist>,
}

impl Fanout {
    fn new() -> Self {
        Fanout {
            sent: OnceLock::new(),
            received: AtomicU64::new(0),
            hist: Mutex::new(Hist::new()),
        }
    }

    fn arrived(&self) {
        if let Some(sent) = self.sent.get() {
            let us = sent.elapsed().as_micros() as u64;
            self.hist.lock().unwrap().record(us);
            self.received.fetch_add(1, Relaxed);
        }
    }

    /// One broadcast from another socket to room `idle`; waits (30 s at most) until the `alive`
    /// sockets all have it. Reports the latency quantiles, the time until the last one, and the
    /// server's CPU time per delivery.
    async fn measure(&self, o: &Opts, alive: u64, errors: &Errors, res: &mut Map<String, Value>) {
        let mut sender = match sio_connect(o, o.src(0)).await {
            Ok(ws) => ws,
            Err(e) => return errors.add("broadcast sender", e),
        };
        let a = snap(o);
        let _ = self.sent.set(Instant::now());
        let frame = r#"42["broadcast","idle",{"p":"to every idle socket"}]"#;
        if let Err(e) = sender.send(Message::text(frame)).await {
            return errors.add("broadcast sender", e);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.received.load(Relaxed) < alive && Instant::now() < deadline {
            sleep(Duration::from_millis(1)).await;
        }
        let b = snap(o);
        let received = self.received.load(Relaxed);
        res.insert("fanout_received".into(), json!(received));
        let hist = self.hist.lock().unwrap().clone();
        res.insert("fanout_p50_us".into(), json!(hist.quantile(0.5)));
        res.insert("fanout_p99_us".into(), json!(hist.quantile(0.99)));
        res.insert("fanout_all_us".into(), json!(hist.max));
        if let (Some(x), Some(y)) = (a.server_cpu, b.server_cpu)
            && received > 0
        {
            res.insert(
                "fanout_srv_cpu_us_per_delivery".into(),
                json!(round((y - x) * 1e6 / received as f64, 3)),
            );
        }
        ws_close(sender).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Phases of a closed-loop scenario

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

struct Loop {
    phase: AtomicU8,
    count: AtomicU64,
    errors: Errors,
    disconnects: AtomicU64,
}

impl Loop {
    fn new() -> Arc<Self> {
        Arc::new(Loop {
            phase: AtomicU8::new(WARMUP),
            count: AtomicU64::new(0),
            errors: Errors::default(),
            disconnects: AtomicU64::new(0),
        })
    }

    /// Warm-up, then a measured window ending at `duration` or `max` messages, then stop.
    /// Returns the window's snapshots and its message count.
    async fn run(&self, o: &Opts, alive: impl Fn() -> bool) -> (Snap, Snap, u64) {
        let warm_end = Instant::now() + Duration::from_secs_f64(o.warmup);
        while Instant::now() < warm_end && alive() {
            sleep(Duration::from_millis(10)).await;
        }
        let s0 = snap(o);
        self.phase.store(MEASURE, Relaxed);
        let end = s0.at + Duration::from_secs_f64(o.duration);
        while Instant::now() < end && self.count.load(Relaxed) < o.max && alive() {
            sleep(Duration::from_millis(5)).await;
        }
        let count = self.count.load(Relaxed);
        let s1 = snap(o);
        self.phase.store(STOP, Relaxed);
        (s0, s1, count)
    }

    fn measuring(&self) -> bool {
        self.phase.load(Relaxed) == MEASURE
    }

    fn stopped(&self) -> bool {
        self.phase.load(Relaxed) == STOP
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios: echo and ack over WebSocket

async fn scenario_echo(o: Arc<Opts>, ack: bool) -> Res<Map<String, Value>> {
    let mut res = Map::new();
    let sockets = connect_many(&o, o.clients, 100, None).await?;
    let state = Loop::new();
    let running = Arc::new(AtomicU64::new(sockets.len() as u64));
    let pad = Arc::new(o.padding());
    let mut tasks = Vec::new();
    for ws in sockets {
        let (state, running, pad) = (state.clone(), running.clone(), pad.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Hist::new();
            let r = echo_client(ws, &state, &pad, ack, &mut hist).await;
            if let Err(e) = r {
                state
                    .errors
                    .add(if ack { "ack client" } else { "echo client" }, e);
                state.disconnects.fetch_add(1, Relaxed);
            }
            running.fetch_sub(1, Relaxed);
            hist
        }));
    }
    let (s0, s1, count) = state.run(&o, || running.load(Relaxed) > 0).await;
    let mut hist = Hist::new();
    for t in tasks {
        if let Ok(Ok(h)) = timeout(Duration::from_secs(15), t).await {
            hist.merge(&h);
        }
    }
    window(&mut res, s0, s1, count, if ack { "ack" } else { "message" });
    res.insert("clients".into(), json!(o.clients));
    hist.report(&mut res, "");
    res.insert("disconnects".into(), json!(state.disconnects.load(Relaxed)));
    state.errors.report(&mut res);
    Ok(res)
}

async fn echo_client(mut ws: Ws, state: &Loop, pad: &str, ack: bool, hist: &mut Hist) -> Res<()> {
    let mut seq = 0u64;
    while !state.stopped() {
        let start = Instant::now();
        let expect = if ack {
            ws.send(Message::text(format!(
                "42{seq}[\"ack\",{}]",
                payload(seq, pad)
            )))
            .await?;
            format!("43{seq}[")
        } else {
            ws.send(Message::text(format!("42[\"echo\",{}]", payload(seq, pad))))
                .await?;
            "42[\"echo\",".to_owned()
        };
        timeout(Duration::from_secs(10), async {
            loop {
                let frame = next_text(&mut ws).await?;
                if frame.starts_with(&expect) {
                    return Res::Ok(());
                }
                other_frame(&mut ws, &frame).await?;
            }
        })
        .await
        .map_err(|_| "no answer within 10 s")??;
        if state.measuring() {
            hist.record(start.elapsed().as_micros() as u64);
            state.count.fetch_add(1, Relaxed);
        }
        seq += 1;
    }
    ws_close(ws).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenarios: broadcast (windowed) and paced broadcast

const RING: usize = 4096;

struct Bcast {
    phase: AtomicU8,
    /// First and last+1 measured sequence numbers.
    seq_lo: AtomicU64,
    seq_hi: AtomicU64,
    /// Deliveries per sequence number (mod RING) until every receiver has it.
    ring: Vec<AtomicU32>,
    /// Broadcasts delivered to every receiver.
    completed: AtomicU64,
    notify: Notify,
    receivers: u32,
    /// Deliveries received during the measured window (and its drain).
    delivered: AtomicU64,
    /// Deliveries of measured sequence numbers.
    measured: AtomicU64,
    order_violations: AtomicU64,
    disconnects: AtomicU64,
    errors: Errors,
}

async fn scenario_broadcast(o: Arc<Opts>, paced: bool) -> Res<Map<String, Value>> {
    let mut res = Map::new();
    let receivers = connect_many(&o, o.receivers, 100, Some("bench")).await?;
    // Cross-node: the sender talks to the other node, and every broadcast crosses the adapter.
    let sender_opts = match o.sender_addr {
        Some(addr) => Opts {
            addr,
            ..(*o).clone()
        },
        None => (*o).clone(),
    };
    let sender = timeout(
        Duration::from_secs(20),
        sio_connect(&sender_opts, o.src(o.receivers)),
    )
    .await
    .map_err(|_| "sender connect timed out")??;
    let state = Arc::new(Bcast {
        phase: AtomicU8::new(WARMUP),
        seq_lo: AtomicU64::new(u64::MAX),
        seq_hi: AtomicU64::new(u64::MAX),
        ring: (0..RING).map(|_| AtomicU32::new(0)).collect(),
        completed: AtomicU64::new(0),
        notify: Notify::new(),
        receivers: o.receivers as u32,
        delivered: AtomicU64::new(0),
        measured: AtomicU64::new(0),
        order_violations: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
        errors: Errors::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for ws in receivers {
        let state = state.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Hist::new();
            if let Err(e) = receiver(ws, &state, &mut stop, &mut hist).await {
                state.errors.add("receiver", e);
                state.disconnects.fetch_add(1, Relaxed);
            }
            hist
        }));
    }

    // The sender's pings are answered through its writer, here.
    let (mut sink, mut stream) = sender.split();
    let (pong_tx, mut pong_rx) = mpsc::unbounded_channel::<()>();
    let sender_reader = {
        let state = state.clone();
        tokio::spawn(async move {
            while let Some(frame) = stream.next().await {
                match frame {
                    Ok(Message::Text(t)) if t.as_str() == "2" => {
                        let _ = pong_tx.send(());
                    }
                    Ok(Message::Text(t)) if t.starts_with("41") || t.as_str() == "1" => {
                        state.errors.add("sender", "disconnected by the server");
                        break;
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
    };

    let pad = o.padding();
    let interval = Duration::from_secs_f64(o.receivers as f64 / o.rate);
    let duration = if paced { o.paced_duration } else { o.duration };
    let t_start = tokio::time::Instant::now();
    let warm_end = t_start + Duration::from_secs_f64(o.warmup);
    let mut measure_end = None;
    let mut s0 = None;
    let mut seq = 0u64;
    let mut stalled = false;
    let mut send_error = None;
    loop {
        let now = tokio::time::Instant::now();
        if s0.is_none() && now >= warm_end {
            s0 = Some(snap(&o));
            state.seq_lo.store(seq, Relaxed);
            state.phase.store(MEASURE, Relaxed);
            measure_end = Some(now + Duration::from_secs_f64(duration));
        }
        if let Some(end) = measure_end
            && (now >= end || seq - state.seq_lo.load(Relaxed) >= o.max)
        {
            break;
        }
        if paced {
            sleep_until(t_start + interval.mul_f64(seq as f64)).await;
        } else {
            // At most `window` broadcasts not yet delivered to every receiver.
            while state.completed.load(Relaxed) + o.window <= seq {
                let notified = state.notify.notified();
                if state.completed.load(Relaxed) + o.window > seq {
                    break;
                }
                if timeout(Duration::from_secs(10), notified).await.is_err() {
                    stalled = true;
                    break;
                }
            }
            if stalled {
                break;
            }
        }
        while pong_rx.try_recv().is_ok() {
            if let Err(e) = sink.send(Message::text("3")).await {
                send_error = Some(e.to_string());
            }
        }
        let frame = format!(r#"42["broadcast","bench",{}]"#, payload(seq, &pad));
        if let Err(e) = sink.send(Message::text(frame)).await {
            send_error = Some(e.to_string());
            break;
        }
        seq += 1;
    }
    let s0 = s0.unwrap_or_else(|| snap(&o));
    let seq_lo = state.seq_lo.load(Relaxed).min(seq);
    state.seq_hi.store(seq, Relaxed);
    // Drain: until every broadcast sent is delivered everywhere, or no delivery for 3 s, or 30 s.
    let drain_start = Instant::now();
    let mut progress = (state.measured.load(Relaxed), drain_start);
    while state.completed.load(Relaxed) < seq
        && drain_start.elapsed() < Duration::from_secs(30)
        && progress.1.elapsed() < Duration::from_secs(3)
    {
        sleep(Duration::from_millis(1)).await;
        let measured = state.measured.load(Relaxed);
        if measured != progress.0 {
            progress = (measured, Instant::now());
        }
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    let s1 = snap(&o);
    state.phase.store(STOP, Relaxed);
    let delivered = state.delivered.load(Relaxed);
    let _ = stop_tx.send(true);
    let mut hist = Hist::new();
    for t in tasks {
        if let Ok(Ok(h)) = timeout(Duration::from_secs(15), t).await {
            hist.merge(&h);
        }
    }
    let _ = sink.close().await;
    sender_reader.abort();

    window(&mut res, s0, s1, delivered, "delivery");
    let broadcasts = seq - seq_lo;
    let expected = broadcasts * o.receivers as u64;
    let measured = state.measured.load(Relaxed);
    res.insert("receivers".into(), json!(o.receivers));
    res.insert("broadcasts".into(), json!(broadcasts));
    if paced {
        res.insert("target_rate_per_s".into(), json!(o.rate));
    } else {
        res.insert("window".into(), json!(o.window));
    }
    hist.report(&mut res, "");
    res.insert("expected".into(), json!(expected));
    res.insert("lost".into(), json!(expected.saturating_sub(measured)));
    res.insert(
        "order_violations".into(),
        json!(state.order_violations.load(Relaxed)),
    );
    res.insert("stalled".into(), json!(stalled));
    res.insert("drain_s".into(), json!(round(drain_s, 3)));
    res.insert("disconnects".into(), json!(state.disconnects.load(Relaxed)));
    if let Some(e) = send_error {
        state.errors.add("sender", e);
    }
    state.errors.report(&mut res);
    Ok(res)
}

async fn receiver(
    mut ws: Ws,
    state: &Bcast,
    stop: &mut watch::Receiver<bool>,
    hist: &mut Hist,
) -> Res<()> {
    let mut last: Option<u64> = None;
    loop {
        let frame = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            frame = next_text(&mut ws) => frame?,
        };
        if !frame.starts_with("42[\"bcast\",") {
            other_frame(&mut ws, &frame).await?;
            continue;
        }
        let at = now_us();
        let (Some(seq), Some(t)) = (field(&frame, "\"s\":"), field(&frame, "\"t\":")) else {
            return Err(format!("unreadable broadcast {:.60}", frame.as_str()).into());
        };
        if last.is_some_and(|l| seq <= l) {
            state.order_violations.fetch_add(1, Relaxed);
        }
        last = Some(seq);
        let slot = &state.ring[seq as usize % RING];
        if slot.fetch_add(1, Relaxed) + 1 == state.receivers {
            slot.store(0, Relaxed);
            state.completed.fetch_add(1, Relaxed);
            state.notify.notify_one();
        }
        if state.phase.load(Relaxed) == MEASURE {
            state.delivered.fetch_add(1, Relaxed);
            if seq >= state.seq_lo.load(Relaxed) && seq < state.seq_hi.load(Relaxed) {
                state.measured.fetch_add(1, Relaxed);
                hist.record(at.saturating_sub(t));
            }
        }
    }
    ws_close(ws).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenario: echo over long-polling, with a hand-written HTTP/1.1 client

struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
    host: String,
}

impl Http {
    async fn connect(o: &Opts, src: Ipv4Addr) -> Res<Self> {
        Ok(Http {
            stream: tcp_connect(o, src).await?,
            buf: Vec::with_capacity(4096),
            host: o.addr.to_string(),
        })
    }

    async fn send(&mut self, method: &str, target: &str, body: &[u8]) -> Res<()> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).await?;
        Ok(())
    }

    async fn fill(&mut self) -> Res<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("HTTP connection closed by the server".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One response: status and body (Content-Length or chunked).
    async fn response(&mut self) -> Res<(u16, Vec<u8>)> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err("HTTP response head too long".into());
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or("bad HTTP status line")?;
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse::<usize>().ok();
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    self.fill().await?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| "bad chunk size")?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    self.fill().await?;
                }
                body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
                if size == 0 {
                    break body;
                }
            }
        } else {
            let len = length.unwrap_or(0);
            while self.buf.len() < len {
                self.fill().await?;
            }
            self.buf.drain(..len).collect()
        };
        Ok((status, body))
    }

    async fn request(&mut self, method: &str, target: &str, body: &[u8]) -> Res<Vec<u8>> {
        self.send(method, target, body).await?;
        let (status, body) = self.response().await?;
        if status != 200 {
            return Err(format!(
                "HTTP {status} on {method}: {:.80}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        Ok(body)
    }
}

/// A long-polling session: one connection for GETs, one for POSTs, as browsers do.
struct Polling {
    get: Http,
    post: Http,
    target: String,
}

impl Polling {
    async fn open(o: &Opts, src: Ipv4Addr) -> Res<Self> {
        let mut get = Http::connect(o, src).await?;
        let post = Http::connect(o, src).await?;
        let base = format!("{}?EIO=4&transport=polling", o.path);
        let open = get.request("GET", &base, b"").await?;
        let open = String::from_utf8_lossy(&open);
        let json: Value =
            serde_json::from_str(open.strip_prefix('0').ok_or("expected the open packet")?)?;
        let sid = json["sid"].as_str().ok_or("no sid in the open packet")?;
        let mut session = Polling {
            get,
            post,
            target: format!("{base}&sid={sid}"),
        };
        session.post("40").await?;
        loop {
            let packets = session.get.request("GET", &session.target, b"").await?;
            let mut connected = false;
            for p in String::from_utf8_lossy(&packets).split('\u{1e}') {
                connected |= p.starts_with("40");
                session.other_packet(p).await?;
            }
            if connected {
                return Ok(session);
            }
        }
    }

    async fn post(&mut self, body: &str) -> Res<()> {
        let answer = self
            .post
            .request("POST", &self.target, body.as_bytes())
            .await?;
        if answer != b"ok" {
            return Err(format!("POST answered {:.40}", String::from_utf8_lossy(&answer)).into());
        }
        Ok(())
    }

    async fn other_packet(&mut self, p: &str) -> Res<()> {
        match p {
            "2" => self.post("3").await,
            "1" => Err("engine.io close from the server".into()),
            p if p.starts_with("41") => Err("socket.io disconnect from the server".into()),
            p if p.starts_with("44") => Err(format!("connect_error {p:.60}").into()),
            _ => Ok(()),
        }
    }
}

async fn scenario_polling(o: Arc<Opts>) -> Res<Map<String, Value>> {
    let mut res = Map::new();
    let mut sessions = Vec::new();
    for i in 0..o.polling_clients {
        sessions.push(
            timeout(Duration::from_secs(20), Polling::open(&o, o.src(i)))
                .await
                .map_err(|_| "polling handshake timed out")??,
        );
    }
    let state = Loop::new();
    let running = Arc::new(AtomicU64::new(sessions.len() as u64));
    let pad = Arc::new(o.padding());
    let mut tasks = Vec::new();
    for session in sessions {
        let (state, running, pad) = (state.clone(), running.clone(), pad.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Hist::new();
            if let Err(e) = polling_client(session, &state, &pad, &mut hist).await {
                state.errors.add("polling client", e);
                state.disconnects.fetch_add(1, Relaxed);
            }
            running.fetch_sub(1, Relaxed);
            hist
        }));
    }
    let (s0, s1, count) = state.run(&o, || running.load(Relaxed) > 0).await;
    let mut hist = Hist::new();
    for t in tasks {
        if let Ok(Ok(h)) = timeout(Duration::from_secs(15), t).await {
            hist.merge(&h);
        }
    }
    window(&mut res, s0, s1, count, "message");
    res.insert("clients".into(), json!(o.polling_clients));
    hist.report(&mut res, "");
    res.insert("disconnects".into(), json!(state.disconnects.load(Relaxed)));
    state.errors.report(&mut res);
    Ok(res)
}

async fn polling_client(mut s: Polling, state: &Loop, pad: &str, hist: &mut Hist) -> Res<()> {
    let mut seq = 0u64;
    while !state.stopped() {
        let start = Instant::now();
        timeout(Duration::from_secs(10), async {
            // The GET waits on the server while the POST carries the event, as in a browser.
            s.get.send("GET", &s.target, b"").await?;
            let event = format!("42[\"echo\",{}]", payload(seq, pad));
            s.post(&event).await?;
            loop {
                let (status, body) = s.get.response().await?;
                if status != 200 {
                    return Err(format!("HTTP {status} on GET").into());
                }
                let mut got = false;
                for p in String::from_utf8_lossy(&body).split('\u{1e}') {
                    if p.starts_with("42[\"echo\",") {
                        got = true;
                    } else {
                        s.other_packet(p).await?;
                    }
                }
                if got {
                    return Res::Ok(());
                }
                s.get.send("GET", &s.target, b"").await?;
            }
        })
        .await
        .map_err(|_| "no echo within 10 s")??;
        if state.measuring() {
            hist.record(start.elapsed().as_micros() as u64);
            state.count.fetch_add(1, Relaxed);
        }
        seq += 1;
    }
    // Close the session (an engine.io close packet), briefly.
    let _ = timeout(Duration::from_secs(2), s.post("1")).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Output and main

fn print_result(o: &Opts, name: &str, result: Res<Map<String, Value>>) {
    let mut res = Map::new();
    res.insert("scenario".into(), json!(name));
    if !o.label.is_empty() {
        res.insert("label".into(), json!(o.label));
    }
    match result {
        Ok(r) => res.extend(r),
        Err(e) => {
            res.insert("failure".into(), json!(e.to_string()));
        }
    }
    if o.json {
        println!("{}", Value::Object(res));
    } else {
        println!("== {name} ==");
        let width = res.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &res {
            if k == "scenario" {
                continue;
            }
            let v = match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            println!("  {k:width$}  {v}");
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn run_scenario(o: &Arc<Opts>, name: &str) {
    let cap = Duration::from_secs_f64(match name {
        "idle" => o.timeout * 10.0,
        "connect" => o.timeout * 2.0,
        "paced" | "cross" => o.timeout + o.warmup + o.paced_duration,
        _ => o.timeout + o.warmup + o.duration,
    });
    let fut = {
        let o = o.clone();
        let name = name.to_owned();
        async move {
            match name.as_str() {
                "connect" => {
                    scenario_connect(o.clone(), "connect", o.conns, o.inflight, o.hold).await
                }
                "idle" => {
                    scenario_connect(o.clone(), "idle", o.idle, o.idle_inflight, o.idle_hold).await
                }
                "echo" => scenario_echo(o, false).await,
                "ack" => scenario_echo(o, true).await,
                "broadcast" => scenario_broadcast(o, false).await,
                "paced" => scenario_broadcast(o, true).await,
                "cross" if o.sender_addr.is_none() => Err("cross needs --sender-url".into()),
                "cross" => scenario_broadcast(o, true).await,
                "polling" => scenario_polling(o).await,
                other => Err(format!("unknown scenario {other:?} (see --help)").into()),
            }
        }
    };
    // Run on its own task: a deadline drops it (and every task it owns ends with the runtime).
    let task = tokio::spawn(fut);
    let result = match timeout(cap, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(format!("scenario panicked: {e}").into()),
        Err(_) => Err(format!("hard deadline of {:.0} s reached", cap.as_secs_f64()).into()),
    };
    print_result(o, name, result);
}

/// The soft limit on open files, as /proc tells it (`scripts/compare` raises it with
/// `ulimit -n` before starting the load generator).
fn raise_nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    now_us();
    let nofile = raise_nofile();
    let needed = (o.conns.max(o.idle).max(o.receivers) as u64) + 200;
    if nofile < needed && (o.scenario == "idle" || o.scenario == "suite" || o.scenario == "connect")
    {
        eprintln!(
            "loadgen: warning: open files limited to {nofile}, {needed} needed: raise it with `ulimit -n` (scripts/compare does)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        if o.scenario == "suite" {
            let mut names = vec!["connect", "echo", "ack", "broadcast", "paced", "polling"];
            if o.idle > 0 {
                names.push("idle");
            }
            for name in names {
                run_scenario(&o, name).await;
                // Let the server finish closing the previous scenario's sockets.
                sleep(Duration::from_secs(1)).await;
            }
        } else {
            run_scenario(&o, &o.scenario).await;
        }
    });
    // Whatever is left (a stuck socket after a deadline) is dropped here.
    runtime.shutdown_timeout(Duration::from_secs(2));
}
