//! Engine.IO server options, named after Node's `engine.io` options, with Node's defaults.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

type AllowRequestFuture = Pin<Box<dyn Future<Output = bool> + Send>>;
pub(crate) type AllowRequest =
    Arc<dyn Fn(&http::request::Parts) -> AllowRequestFuture + Send + Sync + 'static>;

/// Which transports a server accepts.
///
/// ```
/// use tower_socketio::engine::{EngineConfig, Transports};
///
/// // WebSocket only, like `transports: ["websocket"]` in Node.
/// let config = EngineConfig::default().transports(Transports { polling: false, websocket: true });
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket, directly or as an upgrade from polling.
    pub websocket: bool,
}

/// Options of an Engine.IO server (and of the Engine.IO layer under a Socket.IO server).
///
/// Built by chaining setters on [`EngineConfig::default()`]:
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::engine::EngineConfig;
///
/// let config = EngineConfig::default()
///     .path("/engine.io/")
///     .ping_interval(Duration::from_millis(300))
///     .ping_timeout(Duration::from_millis(200))
///     .max_http_buffer_size(1_000_000);
/// assert_eq!(config.get_ping_interval(), Duration::from_millis(300));
/// ```
#[derive(Clone)]
pub struct EngineConfig {
    pub(crate) path: String,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_http_buffer_size: usize,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) transports: Transports,
    pub(crate) allow_upgrades: bool,
    pub(crate) allow_eio3: bool,
    pub(crate) cookie: Option<String>,
    pub(crate) http_compression_threshold: Option<usize>,
    pub(crate) ws_read_buffer_size: usize,
    pub(crate) allow_request: Option<AllowRequest>,
    #[cfg(feature = "no-sticky")]
    pub(crate) forwarding: Option<super::Forwarding>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/engine.io/".to_owned(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_http_buffer_size: 1_000_000,
            max_buffered_bytes: 32 * 1024 * 1024,
            transports: Transports {
                polling: true,
                websocket: true,
            },
            allow_upgrades: true,
            allow_eio3: false,
            cookie: None,
            http_compression_threshold: Some(1024),
            // Allocated (and zeroed) per WebSocket for its whole life, so small: most Socket.IO
            // packets fit. Larger frames grow it as needed, taken 256 bytes at a time from what
            // one system call read ahead (up to 8 KiB, held only until taken).
            ws_read_buffer_size: 256,
            allow_request: None,
            #[cfg(feature = "no-sticky")]
            forwarding: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("EngineConfig");
        f.field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_http_buffer_size", &self.max_http_buffer_size)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("allow_eio3", &self.allow_eio3)
            .field("cookie", &self.cookie)
            .field(
                "http_compression_threshold",
                &self.http_compression_threshold,
            )
            .field("allow_request", &self.allow_request.is_some());
        #[cfg(feature = "no-sticky")]
        f.field("forwarding", &self.forwarding);
        f.finish()
    }
}

impl EngineConfig {
    /// The path the server answers under (default `/engine.io/`; the Socket.IO layer uses
    /// `/socket.io/`). A trailing slash is added when missing.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if !path.ends_with('/') {
            path.push('/');
        }
        self.path = path;
        self
    }

    /// How often the server pings (default 25 s).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long the server waits for a pong before it closes with "ping timeout" (default 20 s).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// How long a WebSocket upgrade may take once probed (default 10 s).
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// The largest message or polling body accepted, in bytes (default 1 000 000). It is also
    /// announced to clients as `maxPayload`.
    pub fn max_http_buffer_size(mut self, bytes: usize) -> Self {
        self.max_http_buffer_size = bytes;
        self
    }

    /// How many bytes may wait in one session's outbound queue (default 32 MiB). A session whose
    /// reader cannot keep up beyond that is closed (see the crate docs on slow consumers).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// Which transports are accepted (default both).
    pub fn transports(mut self, transports: Transports) -> Self {
        self.transports = transports;
        self
    }

    /// Whether polling sessions may upgrade to WebSocket (default true).
    pub fn allow_upgrades(mut self, allow: bool) -> Self {
        self.allow_upgrades = allow;
        self
    }

    /// Accept Engine.IO v3 clients (Socket.IO v2 clients), off by default as in Node.
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.allow_eio3 = allow;
        self
    }

    /// Set a cookie with this name (Node's `cookie: { name }`, usually `io`) holding the session
    /// id on the handshake response. Off by default.
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// The size of a WebSocket connection's read buffer (default 256 bytes). It lives as long as
    /// the connection, so it is kept small for many idle clients; a system call still reads up
    /// to 8 KiB, which the connection holds only until the buffer took it. Servers that mostly
    /// receive large messages take them in fewer steps with a larger one.
    ///
    /// ```
    /// use tower_socketio::engine::EngineConfig;
    ///
    /// let config = EngineConfig::default().ws_read_buffer_size(16 * 1024);
    /// # let _ = config;
    /// ```
    pub fn ws_read_buffer_size(mut self, bytes: usize) -> Self {
        self.ws_read_buffer_size = bytes.max(64);
        self
    }

    /// Compress polling responses of at least `threshold` bytes when the client accepts gzip or
    /// deflate (default 1024); `None` turns compression off.
    pub fn http_compression(mut self, threshold: Option<usize>) -> Self {
        self.http_compression_threshold = threshold;
        self
    }

    /// Decide whether a handshake or upgrade request may proceed (Node's `allowRequest`); a
    /// refusal is answered with 403 and `{"code":4,"message":"Forbidden"}`.
    ///
    /// ```
    /// use tower_socketio::engine::EngineConfig;
    ///
    /// let config = EngineConfig::default().allow_request(|parts| {
    ///     let allowed = parts.headers.get("origin").is_some_and(|o| o == "https://example.com");
    ///     async move { allowed }
    /// });
    /// # let _ = config;
    /// ```
    pub fn allow_request<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.allow_request = Some(Arc::new(move |parts| Box::pin(check(parts))));
        self
    }

    /// Serve this node's sessions from any node of a cluster, and forward requests for other
    /// nodes' sessions to them: a cluster without sticky sessions (feature `no-sticky`). See
    /// [`Forwarding`](super::Forwarding); the locator must be set.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use std::sync::Arc;
    /// use tower_socketio::engine::{EngineConfig, Forwarding, NodeId, NodeLocator};
    ///
    /// struct Alone;
    /// impl NodeLocator for Alone {
    ///     fn locate(&self, _: NodeId) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<SocketAddr>> + Send + '_>> {
    ///         Box::pin(async { None })
    ///     }
    /// }
    ///
    /// let config = EngineConfig::default()
    ///     .forwarding(Forwarding::new("cluster secret").locator(Arc::new(Alone)));
    /// # let _ = config;
    /// ```
    #[cfg(feature = "no-sticky")]
    pub fn forwarding(mut self, forwarding: super::Forwarding) -> Self {
        self.forwarding = Some(forwarding);
        self
    }

    /// The configured ping interval.
    pub fn get_ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// The configured ping timeout.
    pub fn get_ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    /// The configured path.
    pub fn get_path(&self) -> &str {
        &self.path
    }

    /// The configured largest accepted message, in bytes.
    pub fn get_max_http_buffer_size(&self) -> usize {
        self.max_http_buffer_size
    }
}
