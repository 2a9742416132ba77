//! The errors of the Socket.IO layer.

use std::sync::Arc;

use serde_json::Value;

use crate::engine::SendError;

/// A refusal to let a socket join a namespace, sent to the client as a CONNECT_ERROR packet
/// (`connect_error` on the client, with `err.message` and `err.data`).
///
/// ```
/// use tower_socketio::ConnectError;
///
/// let err = ConnectError::new("not authorized").with_data(serde_json::json!({"code": 401}));
/// assert_eq!(err.message(), "not authorized");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    message: String,
    data: Option<Value>,
}

impl ConnectError {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds the `data` the client sees on the error.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }

    /// The CONNECT_ERROR payload: `{"message":...,"data":...}`.
    pub(crate) fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            map.insert("data".into(), data.clone());
        }
        Value::Object(map).to_string()
    }
}

impl From<&str> for ConnectError {
    fn from(message: &str) -> Self {
        ConnectError::new(message)
    }
}

impl From<String> for ConnectError {
    fn from(message: String) -> Self {
        ConnectError::new(message)
    }
}

/// An emit could not be carried out.
///
/// ```
/// # fn f(socket: tower_socketio::SocketRef) {
/// use tower_socketio::EmitError;
///
/// match socket.emit("news", &"hello") {
///     Ok(()) => {}
///     Err(EmitError::Disconnected) => {}
///     Err(err) => tracing::warn!(%err, "emit failed"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The data could not be serialized to JSON.
    #[error("could not serialize the data: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The client does not read fast enough: its queue is full, and its connection is closed
    /// as a slow consumer.
    #[error("the client's outbound queue is full")]
    QueueFull,
    /// The adapter failed to carry the broadcast.
    #[error("adapter error: {0}")]
    Adapter(#[from] AdapterError),
}

impl From<SendError> for EmitError {
    fn from(err: SendError) -> Self {
        match err {
            SendError::Closed => EmitError::Disconnected,
            SendError::Full => EmitError::QueueFull,
        }
    }
}

/// No acknowledgement came.
///
/// ```no_run
/// # async fn f(socket: tower_socketio::SocketRef) -> Result<(), tower_socketio::EmitError> {
/// use tower_socketio::AckError;
///
/// match socket.emit_with_ack("ready?", &())?.await {
///     Ok(answer) => println!("{:?}", answer.args),
///     Err(AckError::Timeout) => println!("no answer in time"),
///     Err(AckError::Disconnected) => println!("left before answering"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The timeout ran out first.
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected before it answered.
    #[error("the socket disconnected")]
    Disconnected,
}

/// An adapter failed.
///
/// A transport failure keeps the error of the client underneath (Redis, PostgreSQL, …) as its
/// [`source`](std::error::Error::source).
///
/// ```
/// use std::error::Error as _;
/// use tower_socketio::AdapterError;
///
/// assert_eq!(AdapterError::Timeout.to_string(), "the request to other nodes timed out");
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
/// let err = AdapterError::transport(io);
/// assert_eq!(err.source().map(|e| e.to_string()).as_deref(), Some("reset by peer"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The other nodes did not all answer in time.
    #[error("the request to other nodes timed out")]
    Timeout,
    /// The adapter is closed (the server is shutting down): nothing more goes to other nodes.
    #[error("the adapter is closed")]
    Closed,
    /// The queue of messages to other nodes is full: the transport has been unreachable long
    /// enough to fill it, and this message was dropped.
    #[error("the adapter's queue to other nodes is full")]
    QueueFull,
    /// The transport between nodes failed. Shared (`Arc`, not `Box`) because one failure
    /// answers every operation waiting on it, such as each emit of a batch Redis refused.
    #[error("adapter transport: {0}")]
    Transport(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl AdapterError {
    /// A transport failure caused by `err`.
    pub fn transport(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AdapterError::Transport(Arc::from(err.into()))
    }
}
