//! A Redis Sentinel setup of the test's own, from `redis-server` alone, on free loopback ports:
//! one master, one replica (`--replicaof`) and three sentinels (`redis-server <conf>
//! --sentinel`, quorum 2) that declare a master down after [`DOWN_AFTER_MS`] and fail over
//! within a few seconds. Everything is killed on drop (and by a watchdog when the test process
//! is gone).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::redis::command;

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "mymaster";
/// Sentinel's `down-after-milliseconds`: how long a silent master takes to be declared down.
pub const DOWN_AFTER_MS: u64 = 1000;

/// A free port below Linux's ephemeral range (see `support::redis`).
fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000")
}

/// One `redis-server` process.
struct Server {
    port: u16,
    child: Mutex<Option<Child>>,
}

impl Server {
    fn spawn(port: u16, args: &[String]) -> Server {
        let child = Command::new("redis-server")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the Sentinel tests need `redis-server` on PATH ({e}): install it \
                     (Debian/Ubuntu: apt-get install -y redis-server)"
                )
            });
        // Killed when this test process is gone, whatever happens to the test.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {0} 2>/dev/null && kill -0 {1} 2>/dev/null; do sleep 1; done; kill -9 {1} 2>/dev/null",
                std::process::id(),
                child.id()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let server = Server {
            port,
            child: Mutex::new(Some(child)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while command(port, &["PING"]).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// SIGKILL: a crash.
    fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A master, a replica and three sentinels.
pub struct SentinelSetup {
    /// Data nodes by port: the first started as master, the second as its replica.
    data: Vec<Server>,
    sentinels: Vec<Server>,
    dir: PathBuf,
}

/// A data node's arguments; `dir` is where a replica keeps the copy it syncs from its master
/// (`dump.rdb`), which must not be the working directory.
fn data_args(port: u16, replica_of: Option<u16>, dir: &std::path::Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--dir",
        &dir.display().to_string(),
        "--dbfilename",
        &format!("dump-{port}.rdb"),
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(master) = replica_of {
        args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
    }
    args
}

impl SentinelSetup {
    /// Starts everything and waits until the sentinels know the master, its replica and each
    /// other (so that they can agree on a failover).
    pub fn start() -> SentinelSetup {
        let master_port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "tsio-sentinel-{}-{master_port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        let master = Server::spawn(master_port, &data_args(master_port, None, &dir));
        let replica_port = free_port();
        let replica_args = data_args(replica_port, Some(master_port), &dir);
        let replica = Server::spawn(replica_port, &replica_args);
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            // Sentinel rewrites its configuration file: one per sentinel, in our directory.
            let conf = dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\nloglevel warning\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
                     sentinel failover-timeout {MASTER_NAME} 3000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir = dir.display()
                ),
            )
            .expect("sentinel conf");
            let args = vec![conf.display().to_string(), "--sentinel".to_string()];
            sentinels.push(Server::spawn(port, &args));
        }
        let setup = SentinelSetup {
            data: vec![master, replica],
            sentinels,
            dir,
        };
        setup.wait_known();
        setup
    }

    /// Waits until every sentinel knows the replica and the two other sentinels, and the
    /// replica is in sync.
    fn wait_known(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = self.sentinels.iter().all(|s| {
                let replicas =
                    command(s.port, &["SENTINEL", "REPLICAS", MASTER_NAME]).unwrap_or_default();
                let others =
                    command(s.port, &["SENTINEL", "SENTINELS", MASTER_NAME]).unwrap_or_default();
                replicas.starts_with("*1") && others.starts_with("*2")
            });
            let synced = command(self.data[1].port, &["INFO", "replication"])
                .unwrap_or_default()
                .contains("master_link_status:up");
            if ready && synced {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels did not find each other and the replica within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The sentinels' URLs.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect()
    }

    /// `host:port,host:port,...` of the sentinels (for the Node nodes).
    pub fn sentinel_list(&self) -> String {
        let list: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        list.join(",")
    }

    /// The port of the master the first sentinel that answers names.
    pub fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let reply = command(
                s.port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
            )
            .ok()?;
            reply
                .lines()
                .filter(|l| !l.starts_with(['*', '$']))
                .nth(1)?
                .trim()
                .parse()
                .ok()
        })
    }

    /// Kills (SIGKILL) the master the sentinels name now; its port.
    pub fn kill_master(&self) -> u16 {
        let port = self.master_port().expect("the sentinels name a master");
        let master = self
            .data
            .iter()
            .find(|d| d.port == port)
            .expect("the master is one of ours");
        master.kill();
        port
    }

    /// Starts the killed server on `port` again, as a master of its own, as a crashed master
    /// comes back; the sentinels turn it into a replica of the new master. Waits until it is
    /// one and in sync.
    pub fn restart(&mut self, port: u16) {
        let index = self
            .data
            .iter()
            .position(|d| d.port == port)
            .expect("one of ours");
        self.data[index] = Server::spawn(port, &data_args(port, None, &self.dir));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = command(port, &["INFO", "replication"]).unwrap_or_default();
            if info.contains("role:slave") && info.contains("master_link_status:up") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the old master did not become a replica within 30 s: {info}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the sentinels name a master other than `old`, which says it is the master;
    /// how long that took.
    pub fn wait_failover(&self, old: u16, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if let Some(port) = self.master_port()
                && port != old
                && command(port, &["ROLE"]).is_ok_and(|r| r.contains("master"))
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "no failover within {within:?} (the sentinels name {:?})",
                self.master_port()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        for server in self.sentinels.iter().chain(&self.data) {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
