//! What an emitter needs from its transport: publish a payload on a channel, and (for the
//! Redis Streams format only) append an entry to a stream, or (for the PostgreSQL format only)
//! store a payload and publish where it is.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::EmitterError;

/// What a backend operation returns: done once the transport took the message.
///
/// ```
/// use tower_socketio::emitter::BackendFuture;
///
/// fn done() -> BackendFuture<'static> {
///     Box::pin(std::future::ready(Ok(())))
/// }
/// # let _ = done();
/// ```
pub type BackendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), EmitterError>> + Send + 'a>>;

/// The transport under an [`Emitter`](super::Emitter): it carries bytes the emitter encoded
/// (in the [`EmitterFormat`](super::EmitterFormat) the servers read) and knows nothing of
/// Socket.IO.
///
/// `Emitter::redis` brings its own (Redis `PUBLISH`, `SPUBLISH` in the sharded format, `XADD`
/// in the Streams format), and so does `Emitter::postgres` (`pg_notify`, and the attachments
/// table). Implement this trait to emit through a client of your own or another Pub/Sub.
///
/// ```
/// # #[cfg(feature = "redis")] {
/// use std::sync::{Arc, Mutex};
/// use bytes::Bytes;
/// use tower_socketio::emitter::{BackendFuture, Emitter, EmitterBackend, EmitterFormat};
///
/// /// Keeps what would be published, to look at it.
/// #[derive(Default, Clone)]
/// struct Recorder(Arc<Mutex<Vec<(String, Bytes)>>>);
///
/// impl EmitterBackend for Recorder {
///     fn publish(&self, channel: String, payload: Bytes) -> BackendFuture<'_> {
///         self.0.lock().unwrap().push((channel, payload));
///         Box::pin(std::future::ready(Ok(())))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let recorder = Recorder::default();
/// let format = EmitterFormat::RedisClassic { key: "socket.io".into() };
/// let emitter = Emitter::new(recorder.clone(), format);
/// emitter.to("room1").emit("hello", &"world").await?;
/// let published = recorder.0.lock().unwrap();
/// assert_eq!(published[0].0, "socket.io#/#room1#");
/// # Ok::<(), tower_socketio::emitter::EmitterError>(())
/// # }).unwrap();
/// # }
/// ```
pub trait EmitterBackend: Send + Sync + 'static {
    /// Publishes `payload` on `channel` (Redis `PUBLISH`, or `SPUBLISH` for the sharded
    /// format; PostgreSQL `pg_notify`, where `payload` is UTF-8 JSON). Resolves once the
    /// transport took it.
    fn publish(&self, channel: String, payload: Bytes) -> BackendFuture<'_>;

    /// Appends an entry with these fields, in this order, to stream `stream`, which keeps
    /// about `max_len` entries: `XADD <stream> MAXLEN ~ <max_len> * <field> <value>…`. Only
    /// `EmitterFormat::RedisStreams` uses it; by default
    /// it fails with [`EmitterError::Unsupported`].
    fn append(
        &self,
        stream: String,
        max_len: u64,
        fields: Vec<(&'static str, Bytes)>,
    ) -> BackendFuture<'_> {
        let _ = (stream, max_len, fields);
        Box::pin(std::future::ready(Err(EmitterError::Unsupported(
            "appending to a stream",
        ))))
    }

    /// Stores `payload` (the MessagePack of a whole message of type `kind`) in PostgreSQL's
    /// attachments table, then publishes on `channel` the header that names its row,
    /// `{"uid":"emitter","type":<kind>,"attachmentId":"<id>"}`, as
    /// `@socket.io/postgres-emitter` does for binary data and large messages. Only
    /// `EmitterFormat::Postgres` uses it; by default it fails with
    /// [`EmitterError::Unsupported`].
    fn publish_attachment(&self, channel: String, kind: u8, payload: Bytes) -> BackendFuture<'_> {
        let _ = (channel, kind, payload);
        Box::pin(std::future::ready(Err(EmitterError::Unsupported(
            "the attachments table",
        ))))
    }
}
