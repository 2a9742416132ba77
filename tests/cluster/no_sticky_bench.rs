//! What forwarding costs: the latency and CPU of a polling round trip (a POST carrying an
//! event with an ack, then the GET that brings the ack back) and of a WebSocket message round
//! trip (event with ack), when the session is on the node the client reached (local) and when
//! it is on another node (forwarded; the WebSocket tunnelled). Rounds alternate local and
//! forwarded so that a noisy machine weighs on both alike; CPU is this process's (the nodes run
//! in it, the client too, the same in both cases), so the difference is the hop's.
//!
//! Last, a node of an ordinary sticky cluster against the session's owner in a cluster without
//! sticky sessions, both local: forwarding must cost nothing to the local path.
//!
//! Ignored by default (a measurement, bounded to a few thousand round trips):
//! `scripts/test cluster -E 'test(no_sticky_bench::)' --run-ignored only --no-capture`.
#![cfg(all(feature = "redis", feature = "no-sticky"))]

use std::time::{Duration, Instant};

use crate::support::http::{self, Conn};
use crate::support::redis::RedisServer;
use crate::support::ws::{WsClient, WsEvent};

use super::no_sticky::{Cluster, TestNode, handshake, poll_path};

const ROUNDS: usize = 5;
const PER_ROUND: usize = 2000;

/// User plus system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 14th field
    // of the line, stime the 15th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

struct Sample {
    latencies: Vec<Duration>,
    cpu: Duration,
}

impl Sample {
    fn median(&self) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[l.len() / 2]
    }

    fn cpu_per_op(&self) -> Duration {
        self.cpu / self.latencies.len() as u32
    }
}

/// A Socket.IO session on `owner`, connected to `/`, driven over keep-alive connections to
/// `entry`.
async fn polling_session(owner: std::net::SocketAddr) -> String {
    let sid = handshake(owner).await;
    let res = http::send(&owner.to_string(), "POST", &poll_path(&sid), &[], b"40")
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    let res = http::send(&owner.to_string(), "GET", &poll_path(&sid), &[], b"")
        .await
        .unwrap();
    assert!(res.text().starts_with("40"), "{}", res.text());
    sid
}

async fn polling_round(entry: std::net::SocketAddr, sid: &str, n: usize, from: usize) -> Sample {
    let host = entry.to_string();
    let mut post = Conn::connect(&host).await.unwrap();
    let mut get = Conn::connect(&host).await.unwrap();
    let path = poll_path(sid);
    let mut latencies = Vec::with_capacity(n);
    let cpu = cpu_time();
    for i in from..from + n {
        let body = format!("42{i}[\"echo\",{i}]");
        let started = Instant::now();
        let res = post
            .exchange(
                &http::build_request("POST", &host, &path, &[], body.as_bytes()),
                false,
            )
            .await
            .unwrap();
        assert_eq!(res.status, 200);
        let res = get
            .exchange(&http::build_request("GET", &host, &path, &[], b""), false)
            .await
            .unwrap();
        assert!(res.text().starts_with(&format!("43{i}[")), "{}", res.text());
        latencies.push(started.elapsed());
    }
    Sample {
        latencies,
        cpu: cpu_time() - cpu,
    }
}

/// A session opened on `owner` and upgraded to WebSocket through `entry`.
async fn ws_session(owner: std::net::SocketAddr, entry: std::net::SocketAddr) -> WsClient {
    let sid = polling_session(owner).await;
    let url = format!("ws://{entry}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let mut ws = WsClient::connect(&url).await.expect("upgrade");
    ws.send_text("2probe").await;
    assert_eq!(ws.recv().await, WsEvent::Text("3probe".into()));
    ws.send_text("5").await;
    ws
}

async fn ws_round(ws: &mut WsClient, n: usize, from: usize) -> Sample {
    let mut latencies = Vec::with_capacity(n);
    let cpu = cpu_time();
    for i in from..from + n {
        let started = Instant::now();
        ws.send_text(&format!("42{i}[\"echo\",{i}]")).await;
        loop {
            match ws.recv().await {
                WsEvent::Text(t) if t.starts_with(&format!("43{i}[")) => break,
                WsEvent::Text(t) if t == "6" || t.starts_with("2") => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
        latencies.push(started.elapsed());
    }
    Sample {
        latencies,
        cpu: cpu_time() - cpu,
    }
}

fn report(what: &str, rounds: &[(Sample, Sample)]) {
    println!("{what}: round  local p50  fwd p50  ratio | local cpu/op  fwd cpu/op  added cpu/op");
    let mut ratios = Vec::new();
    let mut added = Vec::new();
    for (k, (local, forwarded)) in rounds.iter().enumerate() {
        let ratio = forwarded.median().as_secs_f64() / local.median().as_secs_f64();
        let extra = forwarded.cpu_per_op().as_secs_f64() - local.cpu_per_op().as_secs_f64();
        ratios.push(ratio);
        added.push(extra);
        println!(
            "{what}: {k}  {:>9.1?}  {:>9.1?}  {ratio:.2} | {:>9.1?}  {:>9.1?}  {:+.1} us",
            local.median(),
            forwarded.median(),
            local.cpu_per_op(),
            forwarded.cpu_per_op(),
            extra * 1e6
        );
    }
    ratios.sort_by(f64::total_cmp);
    added.sort_by(f64::total_cmp);
    println!(
        "{what}: median latency ratio forwarded/local {:.2}, median added CPU {:.1} us per round trip",
        ratios[ratios.len() / 2],
        added[added.len() / 2] * 1e6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn forwarding_overhead() {
    let cluster = Cluster::start_with(
        RedisServer::shared(),
        "no-sticky-bench",
        Duration::from_secs(25),
    )
    .await;
    let (a, b) = (cluster.node("a").addr, cluster.node("b").addr);

    let sid = polling_session(a).await;
    let mut rounds = Vec::new();
    let mut next = 0;
    for _ in 0..ROUNDS {
        let local = polling_round(a, &sid, PER_ROUND, next).await;
        next += PER_ROUND;
        let forwarded = polling_round(b, &sid, PER_ROUND, next).await;
        next += PER_ROUND;
        rounds.push((local, forwarded));
    }
    report("polling", &rounds);

    let mut local_ws = ws_session(a, a).await;
    let mut tunnelled = ws_session(a, b).await;
    let mut rounds = Vec::new();
    let mut next = 0;
    for _ in 0..ROUNDS {
        let local = ws_round(&mut local_ws, PER_ROUND, next).await;
        let forwarded = ws_round(&mut tunnelled, PER_ROUND, next).await;
        next += PER_ROUND;
        rounds.push((local, forwarded));
    }
    report("websocket", &rounds);

    // A node of a sticky cluster against the owner in a cluster without: the local path is
    // the same.
    let redis = RedisServer::shared();
    let sticky = TestNode::start_with(
        "s",
        &redis.url(),
        "no-sticky-bench",
        Duration::from_secs(25),
        false,
    )
    .await;
    let sticky_sid = polling_session(sticky.addr).await;
    let mut rounds = Vec::new();
    let mut next = 100_000;
    for _ in 0..ROUNDS {
        let plain = polling_round(sticky.addr, &sticky_sid, PER_ROUND, next).await;
        let owner = polling_round(a, &sid, PER_ROUND, next).await;
        next += PER_ROUND;
        rounds.push((plain, owner));
    }
    report("polling, sticky node vs no-sticky owner", &rounds);
}
