//! Helpers shared by the hostile-input, slow-consumer, shutdown and soak suites: purpose-built
//! servers on ephemeral loopback ports, process memory (VmRSS) and tokio task counts.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Target;

/// Serializes the tests of one binary that allocate a lot or measure the process's memory, so
/// that under `cargo test` (one process, tests on threads) they do not disturb each other's
/// readings. (nextest runs each test in its own process anyway.)
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The resident set size of this process, in KiB (`VmRSS` of `/proc/self/status`).
pub fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Returns freed heap memory to the system (glibc's `malloc_trim`), so that RSS readings show
/// what is still allocated rather than what the allocator keeps cached.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            /// glibc: gives free heap memory back to the system.
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only releases free memory of the allocator; it has no
        // preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// RSS after trimming the heap, in KiB.
pub fn settled_rss_kib() -> u64 {
    trim_heap();
    vm_rss_kib()
}

/// Tasks alive on the current tokio runtime (stable `RuntimeMetrics::num_alive_tasks`).
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (at most `within`) until no more than `target` tasks are alive; returns the last count.
pub async fn settle_tasks(target: usize, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = alive_tasks();
        if n <= target || tokio::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` every 10 ms until it holds; panics with `what` after `within`.
pub async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A server of this test's own, served by `axum::serve` on an ephemeral loopback port.
pub struct Served {
    pub target: Target,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<()>,
}

impl Served {
    /// Starts the graceful shutdown (the future given to [`serve_graceful`] runs).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `app` until the test ends.
pub async fn serve(app: axum::Router) -> Served {
    serve_graceful(app, || async {}).await
}

/// Serves `app` with `axum::serve(..).with_graceful_shutdown(..)`: once [`Served::stop`] is
/// called, `on_signal` runs (e.g. `io.shutdown()`) and axum's graceful shutdown begins.
pub async fn serve_graceful<F, Fut>(app: axum::Router, on_signal: F) -> Served
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr").to_string();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                if rx.await.is_ok() {
                    on_signal().await;
                } else {
                    // the test dropped its handle without stopping: serve until it ends
                    std::future::pending::<()>().await;
                }
            })
            .await
            .expect("server failed");
    });
    Served {
        target: Target { addr },
        stop: Some(tx),
        task,
    }
}

/// Whether the variable is set to something other than empty or `0`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// An Engine.IO handler that echoes every message back to its sender (as the conformance
/// server's `/engine.io/`).
pub struct Echo;

impl tower_socketio::engine::EngineHandler for Echo {
    type State = ();

    fn on_open(&self, _: &tower_socketio::engine::Session) {}

    fn on_message(
        &self,
        _: &(),
        session: &tower_socketio::engine::Session,
        message: tower_socketio::engine::Message,
    ) {
        let _ = match message {
            tower_socketio::engine::Message::Text(text) => session.send_text(&text),
            tower_socketio::engine::Message::Binary(data) => session.send_binary(data),
        };
    }

    fn on_close(
        &self,
        _: &(),
        _: &tower_socketio::engine::Session,
        _: tower_socketio::engine::CloseReason,
    ) {
    }
}
