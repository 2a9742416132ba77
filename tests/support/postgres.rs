//! PostgreSQL for the adapter tests (feature `postgres`): a fresh database per test on the
//! machine's PostgreSQL (127.0.0.1:5432, user `postgres`, trust auth; `TSIO_PG` overrides the
//! connection string of the server), dropped when the test ends; a private PostgreSQL
//! (`initdb` + `pg_ctl` on a free port) for restart tests; Rust and Node.js nodes on them; a
//! Node.js `@socket.io/postgres-emitter`; and a raw connection to notify and to kill backends.
//!
//! Nothing here skips: when no PostgreSQL can be reached the test fails and says how to provide
//! one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};
use tower_socketio::adapter::postgres::{PostgresAdapter, PostgresAdapterConfig};

use super::redis::{JsNode, JsProc, RustNode};

/// The server the tests create their databases on.
pub fn server_connection() -> String {
    std::env::var("TSIO_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".to_string())
}

const HOW_TO_PROVIDE: &str = "the PostgreSQL adapter tests need a PostgreSQL server at \
     127.0.0.1:5432 where user `postgres` may log in without a password (trust auth) and create \
     databases; on Debian/Ubuntu: `apt-get install -y postgresql && service postgresql start`, \
     then trust local TCP logins in pg_hba.conf (`host all all 127.0.0.1/32 trust`); or point \
     TSIO_PG at another server (a tokio-postgres connection string, e.g. \
     `host=127.0.0.1 port=5433 user=postgres`)";

async fn connect(conn: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = conn
        .parse::<tokio_postgres::Config>()?
        .connect(NoTls)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A database of its own for one test, dropped (with `FORCE`) when the test ends.
pub struct TestDb {
    /// The server's connection string (without a database).
    pub server: String,
    pub name: String,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// Creates a fresh database on [`server_connection`]; panics with how to provide a server
    /// when there is none.
    pub async fn create() -> TestDb {
        TestDb::create_on(&server_connection()).await
    }

    /// Creates a fresh database on the server `server` connects to.
    pub async fn create_on(server: &str) -> TestDb {
        let client = match tokio::time::timeout(Duration::from_secs(10), connect(server)).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                panic!("cannot connect to PostgreSQL ({server}): {err}\n{HOW_TO_PROVIDE}")
            }
            Err(_) => panic!("PostgreSQL ({server}) did not answer within 10 s\n{HOW_TO_PROVIDE}"),
        };
        let name = format!(
            "tsio_{}_{}_{:08x}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}\n{HOW_TO_PROVIDE}"));
        TestDb {
            server: server.to_string(),
            name,
        }
    }

    /// The connection string of this database.
    pub fn connection(&self) -> String {
        format!("{} dbname={}", self.server, self.name)
    }

    /// The same as a `postgresql://` URL (for node-postgres).
    pub fn url(&self) -> String {
        let config: tokio_postgres::Config = self.server.parse().expect("connection string");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        format!("postgresql://{user}@{host}:{port}/{}", self.name)
    }

    /// A connection to this database (for `NOTIFY` and `pg_terminate_backend`).
    pub async fn client(&self) -> Client {
        connect(&self.connection())
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.name))
    }

    /// The adapter's configuration for a Rust node called `name` (its connections carry
    /// `application_name=tsio-<name>`, so a test can find and kill them), with short heartbeats.
    pub fn config(&self, name: &str) -> PostgresAdapterConfig {
        PostgresAdapterConfig::new(format!(
            "{} application_name=tsio-{name}",
            self.connection()
        ))
        .heartbeat_interval(Duration::from_millis(500))
        .heartbeat_timeout(Duration::from_millis(2500))
        .requests_timeout(Duration::from_secs(3))
    }

    /// A Rust node on this database.
    pub async fn rust_node(&self, name: &str) -> RustNode {
        rust_node(name, self.config(name)).await
    }

    /// A Node.js node (`@socket.io/postgres-adapter` 0.5 through `tests/js/redis-node.mjs`
    /// with `PG_URL`), with heartbeats as short as the Rust nodes'.
    pub async fn js_node(&self, name: &str) -> JsNode {
        let env = vec![
            ("PG_URL", self.url()),
            ("HEARTBEAT_MS", "500".to_string()),
            ("HEARTBEAT_TIMEOUT_MS", "2500".to_string()),
        ];
        JsNode::start_env(name, "", "socket.io", env).await
    }

    /// Kills (`pg_terminate_backend`) the connections of Rust node `name`; how many.
    pub async fn kill_connections(&self, name: &str) -> i64 {
        let client = self.client().await;
        let row = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = $2",
                &[&self.name, &format!("tsio-{name}")],
            )
            .await
            .expect("pg_terminate_backend");
        row.get(0)
    }

    /// How many connections Rust node `name` has open.
    pub async fn connections(&self, name: &str) -> i64 {
        let client = self.client().await;
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
                &[&self.name, &format!("tsio-{name}")],
            )
            .await
            .expect("pg_stat_activity");
        row.get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A runtime of its own: the test's may be shutting down.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let client = connect(&server).await.ok()?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A Rust node with the PostgreSQL adapter (ready: it listens on every namespace).
pub async fn rust_node(name: &str, config: PostgresAdapterConfig) -> RustNode {
    let builder = PostgresAdapter::connect(config)
        .await
        .unwrap_or_else(|e| panic!("node {name}: {e}"));
    let node = RustNode::start_with_adapter(name, builder, None).await;
    tokio::time::timeout(Duration::from_secs(10), node.io.ready())
        .await
        .unwrap_or_else(|_| panic!("node {name} not ready within 10 s"))
        .unwrap_or_else(|e| panic!("node {name}: {e}"));
    node
}

/// Node's `@socket.io/postgres-emitter` 0.1 (`tests/js/postgres-emitter.mjs`).
pub struct JsEmitter {
    pub proc: JsProc,
}

impl JsEmitter {
    pub async fn start(db: &TestDb) -> JsEmitter {
        let proc = JsProc::spawn("postgres-emitter.mjs", "emitter", &[("PG_URL", db.url())]).await;
        proc.events
            .wait_for("emitter ready", Duration::from_secs(20), |e| {
                e.iter().any(|v| v["event"] == "ready")
            })
            .await;
        JsEmitter { proc }
    }

    /// Runs `op` (emit, socketsJoin, socketsLeave, disconnectSockets, serverSideEmit).
    pub async fn call(&self, op: &str, params: Value) -> Value {
        self.proc
            .request(op, params)
            .await
            .unwrap_or_else(|e| panic!("emitter: {op} failed: {e}"))
    }

    /// `emitter[.of(nsp)][.to(rooms)].emit(event, ...args)`.
    pub async fn emit(&self, nsp: Option<&str>, rooms: &[&str], event: &str, args: Value) {
        self.call(
            "emit",
            json!({ "nsp": nsp, "rooms": rooms, "event": event, "args": args }),
        )
        .await;
    }
}

/// A PostgreSQL server of the test's own (`initdb` + `pg_ctl` on a free port, in a temporary
/// directory), for tests that restart it; stopped and removed on drop.
pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// Runs a PostgreSQL program, as user `postgres` when this process is root (PostgreSQL refuses
/// to run as root).
fn pg_command(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let path = bin.join(program);
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut cmd = std::process::Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(&path);
        cmd
    } else {
        std::process::Command::new(&path)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()))
}

impl PrivatePostgres {
    /// Finds PostgreSQL's programs (`/usr/lib/postgresql/<version>/bin`) and starts a server;
    /// panics saying what is missing.
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
            .max()
            .unwrap_or_else(|| {
                panic!(
                    "the PostgreSQL restart test needs the server programs initdb and pg_ctl \
                     under /usr/lib/postgresql/<version>/bin: install them (Debian/Ubuntu: \
                     `apt-get install -y postgresql`)"
                )
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("tsio-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        // The server runs as `postgres` when we are root: it must own its directory.
        let _ = std::process::Command::new("chown")
            .args(["postgres:postgres", &dir.to_string_lossy()])
            .status();
        let data = dir.join("data");
        let out = pg_command(
            &bin,
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = PrivatePostgres { port, dir, bin };
        server.start_again();
        server
    }

    /// Starts the stopped server (waits until it accepts connections).
    pub fn start_again(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.to_string_lossy()
        );
        let out = pg_command(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        let out = pg_command(
            &self.bin,
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The connection string of the server (no database).
    pub fn connection(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = pg_command(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
