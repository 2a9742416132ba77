//! Socket.IO server options, named after Node's `socket.io` options, with Node's defaults.

use std::time::Duration;

use crate::engine::EngineConfig;

/// Options of a Socket.IO server. The Engine.IO options underneath are in
/// [`SocketIoConfig::engine`].
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::SocketIoConfig;
///
/// let config = SocketIoConfig::default()
///     .connect_timeout(Duration::from_secs(10))
///     .max_attachments(4);
/// assert_eq!(config.engine.get_path(), "/socket.io/");
/// ```
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// The Engine.IO layer's options (path `/socket.io/` by default).
    pub engine: EngineConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) ack_timeout: Duration,
    pub(crate) max_attachments: usize,
    pub(crate) max_json_depth: usize,
    pub(crate) max_namespaces_per_client: usize,
    pub(crate) parser: crate::parser::Parser,
    pub(crate) recovery: Option<crate::ConnectionStateRecovery>,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            engine: EngineConfig::default().path("/socket.io/"),
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(5),
            max_attachments: 10,
            max_json_depth: crate::parser::DEFAULT_MAX_DEPTH,
            max_namespaces_per_client: 64,
            parser: crate::parser::Parser::Default,
            recovery: None,
        }
    }
}

impl SocketIoConfig {
    /// How long a client may stay connected without joining any namespace (default 45 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long `emit_with_ack` waits for an answer when no `timeout` is given (default 5 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// The most binary attachments one packet may announce (default 10); a packet announcing
    /// more ends the client's connection.
    pub fn max_attachments(mut self, max: usize) -> Self {
        self.max_attachments = max;
        self
    }

    /// How deep the JSON of a packet may nest (default 1 024 levels); a deeper packet ends the
    /// client's connection. The limit keeps parsing and dropping the value well inside the
    /// stack.
    pub fn max_json_depth(mut self, depth: usize) -> Self {
        self.max_json_depth = depth;
        self
    }

    /// The most namespaces one client may join at once (default 64).
    pub fn max_namespaces_per_client(mut self, max: usize) -> Self {
        self.max_namespaces_per_client = max;
        self
    }

    /// The packet format (default: JSON; msgpack with the `msgpack` feature). Every client of the
    /// server must use the same one, as in Node.
    pub fn parser(mut self, parser: crate::parser::Parser) -> Self {
        self.parser = parser;
        self
    }

    /// Turns on connection state recovery (off by default, as in Node).
    pub fn connection_state_recovery(mut self, options: crate::ConnectionStateRecovery) -> Self {
        self.recovery = Some(options);
        self
    }

    /// Changes the Engine.IO options.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_socketio::SocketIoConfig;
    ///
    /// let config = SocketIoConfig::default()
    ///     .with_engine(|e| e.ping_interval(Duration::from_millis(300)).path("/io/"));
    /// assert_eq!(config.engine.get_path(), "/io/");
    /// ```
    pub fn with_engine(mut self, f: impl FnOnce(EngineConfig) -> EngineConfig) -> Self {
        self.engine = f(self.engine);
        self
    }
}
