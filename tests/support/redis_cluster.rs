//! A real local Redis Cluster for the adapter tests (feature `redis`): six `redis-server`
//! processes on free loopback ports (three masters, three replicas), each in cluster mode with
//! its node file in a fresh temp dir, joined by `redis-cli --cluster create`.
//!
//! [`RedisCluster::shared`] is one per test process; a test that kills a master starts its own
//! with [`RedisCluster::start`], so the failover it causes touches no other test.
//! [`RedisCluster::shared_masters`] has no replicas: node-redis's cluster client puts its
//! Pub/Sub connection on a random node, replicas included, and its adapter counts subscribers
//! on the masters only, so a Node node's `serverCount` misses itself half the time on a cluster
//! with replicas; the mixed tests with Node nodes use this one. Every server
//! is killed on drop, and by a watchdog shell when the test process is gone (statics are never
//! dropped).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::redis::command;

/// How many masters; each has one replica.
const MASTERS: usize = 3;

/// One `redis-server` of the cluster.
struct ClusterNode {
    port: u16,
    child: Option<Child>,
}

/// A running Redis Cluster of this test process.
pub struct RedisCluster {
    dir: PathBuf,
    nodes: Mutex<Vec<ClusterNode>>,
}

/// A free port for a cluster node: its cluster bus listens on `port + 10000`, which must be free
/// too (and below 65536).
fn free_cluster_port() -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(20_000..30_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair in 20000..30000")
}

impl RedisCluster {
    /// The cluster shared by the tests of this process that do not kill nodes.
    pub fn shared() -> &'static RedisCluster {
        static SHARED: OnceLock<RedisCluster> = OnceLock::new();
        SHARED.get_or_init(RedisCluster::start)
    }

    /// The cluster without replicas shared by the mixed tests with Node nodes (see the module
    /// docs for why).
    pub fn shared_masters() -> &'static RedisCluster {
        static SHARED: OnceLock<RedisCluster> = OnceLock::new();
        SHARED.get_or_init(|| RedisCluster::start_with(0))
    }

    /// A new cluster: three masters and three replicas, `cluster_state:ok` on every node.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with(1)
    }

    /// A new cluster of three masters with `replicas` replicas each.
    pub fn start_with(replicas: usize) -> RedisCluster {
        for _ in 0..3 {
            if let Some(cluster) = RedisCluster::try_start(replicas) {
                return cluster;
            }
        }
        panic!("could not start a Redis Cluster (redis-server and redis-cli on PATH?)");
    }

    fn try_start(replicas: usize) -> Option<RedisCluster> {
        let dir = std::env::temp_dir().join(format!(
            "tsio-redis-cluster-{}-{}",
            std::process::id(),
            free_cluster_port()
        ));
        std::fs::create_dir_all(&dir).expect("cluster temp dir");
        let cluster = RedisCluster {
            dir,
            nodes: Mutex::new(Vec::new()),
        };
        for _ in 0..(1 + replicas) * MASTERS {
            let port = free_cluster_port();
            let child = cluster.launch(port)?;
            cluster.nodes.lock().unwrap().push(ClusterNode {
                port,
                child: Some(child),
            });
        }
        let addrs: Vec<String> = cluster
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !created.success() {
            return None;
        }
        cluster.wait_ok(Duration::from_secs(30)).then_some(cluster)
    }

    /// Starts the node of `port` with its node file in the cluster's dir (a restarted node reads
    /// it back and rejoins with its identity).
    fn launch(&self, port: u16) -> Option<Child> {
        let port_s = port.to_string();
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let child = Command::new("redis-server")
            .args(["--port", &port_s, "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(&conf)
            .args(["--cluster-node-timeout", "2000"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the Redis Cluster tests need `redis-server` on PATH ({e})");
            });
        // Kill it when this test process is gone, and then remove the cluster's dir (a shared
        // cluster is a static, never dropped).
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {me} 2>/dev/null && kill -0 {child} 2>/dev/null; do sleep 1; done; \
                 kill -0 {me} 2>/dev/null || {{ kill -9 {child} 2>/dev/null; rm -rf '{dir}'; }}",
                me = std::process::id(),
                child = child.id(),
                dir = self.dir.display(),
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(reply) = command(port, &["INFO", "server"])
                && reply.contains(&format!("process_id:{pid}\r\n"))
            {
                return Some(child);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The ports of every node, masters and replicas, in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.lock().unwrap().iter().map(|n| n.port).collect()
    }

    /// The seed URLs of every node (`redis://127.0.0.1:<port>`).
    pub fn urls(&self) -> Vec<String> {
        self.ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The ports of the nodes running now whose role is master.
    pub fn masters(&self) -> Vec<u16> {
        self.ports()
            .into_iter()
            .filter(|&port| {
                self.is_running(port)
                    && command(port, &["ROLE"]).is_ok_and(|r| r.contains("master"))
            })
            .collect()
    }

    /// The master serving the slot of `key`: the only master that answers a keyed command
    /// without `MOVED`.
    pub fn master_of(&self, key: &str) -> u16 {
        self.masters()
            .into_iter()
            .find(|&port| command(port, &["EXISTS", key]).is_ok_and(|r| !r.starts_with("-MOVED")))
            .unwrap_or_else(|| panic!("no master serves the slot of {key}"))
    }

    /// Moves the slot of `key` from its master to another master (as `redis-cli --cluster
    /// reshard` does for a slot without keys: `CLUSTER SETSLOT … NODE` on the new owner, the
    /// old one, then every other master) and waits until every node agrees; the new owner.
    pub fn move_slot(&self, key: &str) -> u16 {
        let from = self.master_of(key);
        let to = self
            .masters()
            .into_iter()
            .find(|&p| p != from)
            .expect("another master");
        let slot = command(from, &["CLUSTER", "KEYSLOT", key])
            .expect("CLUSTER KEYSLOT")
            .trim()
            .trim_start_matches(':')
            .to_string();
        let id = |port: u16| {
            let reply = command(port, &["CLUSTER", "MYID"]).expect("CLUSTER MYID");
            reply.lines().nth(1).map(str::to_string).expect("a node id")
        };
        let (from_id, to_id) = (id(from), id(to));
        let ok = |r: std::io::Result<String>| assert!(r.is_ok_and(|r| r.starts_with("+OK")));
        ok(command(
            to,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id],
        ));
        ok(command(
            from,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id],
        ));
        ok(command(to, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]));
        ok(command(
            from,
            &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id],
        ));
        for port in self.masters() {
            if port != from && port != to {
                ok(command(
                    port,
                    &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id],
                ));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running().iter().any(|&port| {
            command(port, &["EXISTS", key]).is_ok_and(|r| r.starts_with("-MOVED")) != (port != to)
        }) {
            assert!(Instant::now() < deadline, "the slot move did not spread");
            std::thread::sleep(Duration::from_millis(50));
        }
        to
    }

    /// Waits until `nodes` connections subscribe shard channel `channel` on its master (a
    /// room's channel is subscribed a moment after a first local socket joins the room).
    pub async fn wait_shard_subscribers(&self, channel: &str, nodes: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let master = self.master_of(channel);
            let reply = command(master, &["PUBSUB", "SHARDNUMSUB", channel]).unwrap_or_default();
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

    fn running(&self) -> Vec<u16> {
        self.nodes
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    fn is_running(&self, port: u16) -> bool {
        self.running().contains(&port)
    }

    /// Whether, within `timeout`, every running node says `cluster_state:ok`, every replica
    /// synced with its master, and there are three masters.
    pub fn wait_ok(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            // A replica takes over only once it synced with its master.
            let ok = self.running().iter().all(|&port| {
                command(port, &["CLUSTER", "INFO"]).is_ok_and(|i| i.contains("cluster_state:ok"))
                    && command(port, &["INFO", "replication"]).is_ok_and(|i| {
                        i.contains("role:master") || i.contains("master_link_status:up")
                    })
            }) && self.masters().len() == MASTERS;
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `CLUSTER NODES` and `cluster_state` as each running node sees them (for failure messages).
    pub fn describe(&self) -> String {
        self.running()
            .iter()
            .map(|&port| {
                let nodes = command(port, &["CLUSTER", "NODES"]).unwrap_or_default();
                let info = command(port, &["CLUSTER", "INFO"]).unwrap_or_default();
                let state = info
                    .lines()
                    .find(|l| l.starts_with("cluster_state"))
                    .unwrap_or("");
                format!("{port}: {state}\n{nodes}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the node of `port` (SIGKILL: a crash, connections reset).
    pub fn kill(&self, port: u16) {
        let mut nodes = self.nodes.lock().unwrap();
        if let Some(node) = nodes.iter_mut().find(|n| n.port == port)
            && let Some(mut child) = node.child.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node of `port` again (it rejoins from its node file, as a replica when its
    /// replica took over meanwhile).
    pub fn restart(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.launch(port) {
                let mut nodes = self.nodes.lock().unwrap();
                if let Some(node) = nodes.iter_mut().find(|n| n.port == port) {
                    node.child = Some(child);
                }
                return;
            }
            assert!(Instant::now() < deadline, "cluster node did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in self.nodes.lock().unwrap().iter_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
