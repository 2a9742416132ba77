//! The adapter's options, with the defaults of Node's `@socket.io/postgres-adapter`, and the
//! errors of setting it up.

use std::time::Duration;

/// How to reach PostgreSQL and how to talk to the other nodes.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::adapter::postgres::PostgresAdapterConfig;
///
/// let config = PostgresAdapterConfig::new("host=127.0.0.1 user=postgres dbname=app")
///     .channel_prefix("my-app")
///     .requests_timeout(Duration::from_secs(2));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct PostgresAdapterConfig {
    pub(crate) connection: String,
    pub(crate) channel_prefix: String,
    pub(crate) table_name: String,
    pub(crate) payload_threshold: usize,
    pub(crate) cleanup_interval: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) requests_timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) incoming_capacity: usize,
    pub(crate) max_attachment_size: usize,
    pub(crate) create_table: bool,
}

impl PostgresAdapterConfig {
    /// The defaults, with how to connect: a `tokio-postgres` connection string, either
    /// `key=value` pairs (`host=127.0.0.1 user=postgres dbname=app`) or a URL
    /// (`postgresql://user:password@host:5432/db`).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("postgresql://postgres@127.0.0.1:5432/app");
    /// # let _ = config;
    /// ```
    pub fn new(connection: impl Into<String>) -> Self {
        PostgresAdapterConfig {
            connection: connection.into(),
            channel_prefix: "socket.io".into(),
            table_name: "socket_io_attachments".into(),
            payload_threshold: 8000,
            cleanup_interval: Duration::from_millis(30_000),
            heartbeat_interval: Duration::from_millis(5000),
            heartbeat_timeout: Duration::from_millis(10_000),
            requests_timeout: Duration::from_millis(5000),
            queue_capacity: 65_536,
            incoming_capacity: 65_536,
            max_attachment_size: 8 << 20,
            create_table: true,
        }
    }

    /// The channel prefix (Node's `channelPrefix`; default `socket.io`): a namespace's channel
    /// is `<prefix>#<nsp>`. PostgreSQL limits channel names to 63 bytes.
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").channel_prefix("chat");
    /// # let _ = config;
    /// ```
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// The attachments table (Node's `tableName`; default `socket_io_attachments`): an
    /// identifier, optionally schema-qualified (`schema.table`).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").table_name("chat_attachments");
    /// # let _ = config;
    /// ```
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.table_name = table.into();
        self
    }

    /// From how many bytes of JSON a message goes through the attachments table (Node's
    /// `payloadThreshold`; default 8 000, PostgreSQL's limit for a NOTIFY payload; larger
    /// values are capped to it).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").payload_threshold(4000);
    /// # let _ = config;
    /// ```
    pub fn payload_threshold(mut self, bytes: usize) -> Self {
        self.payload_threshold = bytes.clamp(1, 8000);
        self
    }

    /// How old attachments get before they are deleted, and how often (Node's
    /// `cleanupInterval`; default 30 s).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1")
    ///     .cleanup_interval(std::time::Duration::from_secs(60));
    /// # let _ = config;
    /// ```
    pub fn cleanup_interval(mut self, interval: Duration) -> Self {
        self.cleanup_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// How often a node says it is still there (Node's `heartbeatInterval`; default 5 s).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1")
    ///     .heartbeat_interval(std::time::Duration::from_secs(2));
    /// # let _ = config;
    /// ```
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long after its last message a node is forgotten (Node's `heartbeatTimeout`;
    /// default 10 s).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1")
    ///     .heartbeat_timeout(std::time::Duration::from_secs(4));
    /// # let _ = config;
    /// ```
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// How long a request waits for the other nodes' answers (default 5 000 ms, as Node).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1")
    ///     .requests_timeout(std::time::Duration::from_secs(2));
    /// # let _ = config;
    /// ```
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// How many messages for other nodes may wait for PostgreSQL (default 65 536); past that,
    /// emits fail their remote part with [`AdapterError::QueueFull`](crate::AdapterError).
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").queue_capacity(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How many notifications may wait to be handled (default 65 536); past that, they are
    /// dropped with a log line.
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").incoming_capacity(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn incoming_capacity(mut self, capacity: usize) -> Self {
        self.incoming_capacity = capacity.max(1);
        self
    }

    /// The largest attachment this node reads (default 8 MiB); larger ones are logged and
    /// ignored.
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").max_attachment_size(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn max_attachment_size(mut self, bytes: usize) -> Self {
        self.max_attachment_size = bytes;
        self
    }

    /// Whether [`PostgresAdapter::connect`](super::PostgresAdapter::connect) creates the
    /// attachments table when it is missing (`CREATE TABLE IF NOT EXISTS`, Node's schema;
    /// default on). Turn it off when the application's role may not create tables.
    ///
    /// ```
    /// # use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").create_table(false);
    /// # let _ = config;
    /// ```
    pub fn create_table(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }
}

/// The adapter could not be set up.
///
/// ```
/// use tower_socketio::adapter::postgres::PostgresAdapterError;
///
/// let err = PostgresAdapterError::InvalidTableName("x; DROP".into());
/// assert!(err.to_string().contains("x; DROP"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum PostgresAdapterError {
    /// The connection string does not parse.
    #[error("invalid PostgreSQL connection string: {0}")]
    InvalidConnection(#[source] tokio_postgres::Error),
    /// The table name is not an identifier (it is written into SQL).
    #[error(
        "invalid attachments table name {0:?}: letters, digits and `_`, optionally `schema.table`"
    )]
    InvalidTableName(String),
    /// PostgreSQL could not be reached.
    #[error("could not connect to PostgreSQL: {0}")]
    Connect(#[source] tokio_postgres::Error),
    /// The attachments table could not be created.
    #[error("could not create the attachments table: {0}")]
    CreateTable(#[source] tokio_postgres::Error),
    /// PostgreSQL refused to prepare the emitter's statements (for instance, the attachments
    /// table is missing and `create_table(false)` said not to create it).
    #[error("could not prepare the emitter's statements: {0}")]
    Prepare(#[source] tokio_postgres::Error),
}

/// Whether `name` can be written into SQL as a table name: `ident` or `schema.ident`, each
/// part starting with a letter or `_`, then letters, digits or `_`.
pub(crate) fn valid_table_name(name: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && p.len() <= 63
    };
    let parts: Vec<&str> = name.split('.').collect();
    matches!(parts.len(), 1 | 2) && parts.into_iter().all(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        for ok in ["socket_io_attachments", "app.t1", "_x"] {
            assert!(valid_table_name(ok), "{ok}");
        }
        for bad in ["", "1t", "a b", "t; DROP TABLE x", "a.b.c", "\"t\"", "a."] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }
}
