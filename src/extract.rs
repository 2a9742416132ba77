//! Extractors: the arguments handlers ask for.
//!
//! | extractor | connection | event | disconnect |
//! | --- | --- | --- | --- |
//! | [`SocketRef`] | ✓ | ✓ | ✓ |
//! | [`Data<T>`] / [`TryData<T>`] (the auth payload, or the event's arguments) | ✓ | ✓ | |
//! | [`Args`] (every argument, as JSON) | | ✓ | |
//! | [`Bin`] (binary attachments) | | ✓ | |
//! | [`AckSender`] | | ✓ | |
//! | [`Event`] (the event name) | | ✓ | |
//! | [`DisconnectReason`] | | | ✓ |
//! | [`State<T>`], [`Extension<T>`], [`SocketIo`](crate::SocketIo), [`HandshakeRef`] | ✓ | ✓ | ✓ |

use std::any::{Any, TypeId};
use std::convert::Infallible;
use std::ops::Deref;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer, ser::SerializeTupleStruct};
use serde_json::Value;

use crate::core::error::EmitError;
use crate::handler::{FromConnectParts, FromDisconnectParts, FromMessageParts, MessageParts};
use crate::parser::{self, PacketType};
pub use crate::socket::{DisconnectReason, SocketRef};

/// Deserializes event arguments: the argument itself when there is exactly one, otherwise the
/// array of all of them (so `Data<(A, B)>` reads two arguments).
pub(crate) fn deserialize_args<T: DeserializeOwned>(
    args: &[Value],
) -> Result<T, serde_json::Error> {
    match args {
        [one] => T::deserialize(one),
        many => T::deserialize(Value::Array(many.to_vec())),
    }
}

/// [`deserialize_args`] for an extractor, whose type is `'static`: a handler asking for the
/// `Value` itself gets a clone, which builds the same value for far less than deserializing one
/// value into another does.
fn extract_args<T: DeserializeOwned + 'static>(args: &[Value]) -> Result<T, serde_json::Error> {
    if let [one] = args
        && TypeId::of::<T>() == TypeId::of::<Value>()
        && let Ok(value) = value_as::<T>(one.clone())
    {
        return Ok(value);
    }
    deserialize_args(args)
}

/// [`extract_args`] for the handler's last extractor: the arguments are taken, not copied.
fn take_args<T: DeserializeOwned + 'static>(
    parts: &mut MessageParts,
) -> Result<T, serde_json::Error> {
    let mut args = std::mem::take(&mut parts.args);
    if args.len() == 1
        && let Some(one) = args.pop()
    {
        return value_as::<T>(one).or_else(T::deserialize);
    }
    T::deserialize(Value::Array(args))
}

/// `value` itself when `T` is `Value`; else `value` back.
fn value_as<T: 'static>(value: Value) -> Result<T, Value> {
    let mut slot = Some(value);
    let any: &mut dyn Any = &mut slot;
    if let Some(value) = any.downcast_mut::<Option<T>>().and_then(Option::take) {
        return Ok(value);
    }
    Err(slot.unwrap_or_default())
}

impl FromConnectParts for SocketRef {
    type Rejection = Infallible;
    fn from_connect_parts(socket: &SocketRef, _: &Option<Value>) -> Result<Self, Infallible> {
        Ok(socket.clone())
    }
}

impl FromMessageParts for SocketRef {
    type Rejection = Infallible;
    fn from_message_parts(socket: &SocketRef, _: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(socket.clone())
    }
}

impl FromDisconnectParts for SocketRef {
    type Rejection = Infallible;
    fn from_disconnect_parts(socket: &SocketRef, _: DisconnectReason) -> Result<Self, Infallible> {
        Ok(socket.clone())
    }
}

impl FromConnectParts for HandshakeRef {
    type Rejection = Infallible;
    fn from_connect_parts(socket: &SocketRef, _: &Option<Value>) -> Result<Self, Infallible> {
        Ok(HandshakeRef(socket.clone()))
    }
}

impl FromMessageParts for HandshakeRef {
    type Rejection = Infallible;
    fn from_message_parts(socket: &SocketRef, _: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(HandshakeRef(socket.clone()))
    }
}

impl FromDisconnectParts for HandshakeRef {
    type Rejection = Infallible;
    fn from_disconnect_parts(socket: &SocketRef, _: DisconnectReason) -> Result<Self, Infallible> {
        Ok(HandshakeRef(socket.clone()))
    }
}

/// The handshake of the socket (headers, query, auth, address, ...).
///
/// ```
/// use tower_socketio::extract::{HandshakeRef, SocketRef};
///
/// fn on_connect(socket: SocketRef, handshake: HandshakeRef) {
///     let agent = handshake.headers().get("user-agent");
///     # let _ = (socket, agent);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct HandshakeRef(SocketRef);

impl Deref for HandshakeRef {
    type Target = crate::Handshake;
    fn deref(&self) -> &crate::Handshake {
        self.0.handshake()
    }
}

/// Deserialized data: the CONNECT auth payload in a connection handler, the event's arguments
/// in an event handler. When it does not deserialize, the handler is not called.
///
/// ```
/// use serde::Deserialize;
/// use tower_socketio::extract::{Data, SocketRef};
///
/// #[derive(Deserialize)]
/// struct Move { x: i32, y: i32 }
///
/// fn register(socket: &SocketRef) {
///     socket.on("move", |Data(m): Data<Move>| { let _ = (m.x, m.y); });
///     socket.on("pair", |Data((a, b)): Data<(String, u8)>| { let _ = (a, b); });
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

/// Like [`Data`], but hands the deserialization error to the handler instead of skipping it.
///
/// ```
/// use tower_socketio::extract::{SocketRef, TryData};
///
/// fn register(socket: &SocketRef) {
///     socket.on("n", |socket: SocketRef, TryData(n): TryData<u32>| {
///         if let Err(e) = n {
///             socket.emit("bad-input", &e.to_string()).ok();
///         }
///     });
/// }
/// ```
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

fn auth_value(auth: &Option<Value>) -> Value {
    auth.clone()
        .unwrap_or_else(|| Value::Object(Default::default()))
}

impl<T: DeserializeOwned> FromConnectParts for Data<T> {
    type Rejection = serde_json::Error;
    fn from_connect_parts(_: &SocketRef, auth: &Option<Value>) -> Result<Self, Self::Rejection> {
        T::deserialize(auth_value(auth)).map(Data)
    }
}

impl<T: DeserializeOwned + 'static> FromMessageParts for Data<T> {
    type Rejection = serde_json::Error;
    fn from_message_parts(
        _: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Self::Rejection> {
        extract_args(&parts.args).map(Data)
    }

    fn from_last_message_parts(
        _: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Self::Rejection> {
        take_args(parts).map(Data)
    }
}

impl<T: DeserializeOwned> FromConnectParts for TryData<T> {
    type Rejection = Infallible;
    fn from_connect_parts(_: &SocketRef, auth: &Option<Value>) -> Result<Self, Infallible> {
        Ok(TryData(T::deserialize(auth_value(auth))))
    }
}

impl<T: DeserializeOwned + 'static> FromMessageParts for TryData<T> {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(TryData(extract_args(&parts.args)))
    }

    fn from_last_message_parts(
        _: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Infallible> {
        Ok(TryData(take_args(parts)))
    }
}

/// Every argument of the event as JSON, binary attachments as placeholders. Emitting an `Args`
/// sends the same arguments back (it spreads like a tuple).
///
/// ```
/// use tower_socketio::extract::{Args, Bin, SocketRef};
///
/// fn register(socket: &SocketRef) {
///     // An echo that keeps every argument, binary included.
///     socket.on("echo", |socket: SocketRef, args: Args, Bin(bin): Bin| {
///         socket.bin(bin).emit("echo", &args).ok();
///     });
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(pub Vec<Value>);

impl FromMessageParts for Args {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, Infallible> {
        // Extractors after this one (a `Data<T>`) read the arguments too.
        Ok(Args(parts.args.clone()))
    }

    fn from_last_message_parts(
        _: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Infallible> {
        Ok(Args(std::mem::take(&mut parts.args)))
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A tuple struct with a marker name: `emit` spreads it into arguments.
        let mut tuple =
            serializer.serialize_tuple_struct(crate::parser::SPREAD_MARKER, self.0.len())?;
        for arg in &self.0 {
            tuple.serialize_field(arg)?;
        }
        tuple.end()
    }
}

/// The event's binary attachments, in placeholder order.
///
/// ```
/// use tower_socketio::extract::{Bin, SocketRef};
///
/// fn register(socket: &SocketRef) {
///     socket.on("upload", |Bin(files): Bin| {
///         let total: usize = files.iter().map(|f| f.len()).sum();
///         println!("{total} bytes");
///     });
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Bin(pub Vec<Bytes>);

impl FromMessageParts for Bin {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, Infallible> {
        // Shared buffers: a copy costs a reference count each.
        Ok(Bin(parts.attachments.clone()))
    }

    fn from_last_message_parts(
        _: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Infallible> {
        Ok(Bin(std::mem::take(&mut parts.attachments)))
    }
}

/// The event name (useful in a handler shared by several events).
///
/// ```
/// use tower_socketio::extract::{Event, SocketRef};
///
/// fn register(socket: &SocketRef) {
///     for name in ["a", "b"] {
///         socket.on(name, |Event(event): Event| println!("got {event}"));
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Event(pub String);

impl FromMessageParts for Event {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(Event(parts.event.clone()))
    }
}

impl FromDisconnectParts for DisconnectReason {
    type Rejection = Infallible;
    fn from_disconnect_parts(_: &SocketRef, reason: DisconnectReason) -> Result<Self, Infallible> {
        Ok(reason)
    }
}

/// Answers the client's acknowledgement request, at most once (sending consumes it). When the
/// client asked for none, sending does nothing.
///
/// ```
/// use tower_socketio::extract::{AckSender, Data};
///
/// fn register(socket: &tower_socketio::SocketRef) {
///     socket.on("double", |Data(n): Data<i64>, ack: AckSender| {
///         ack.send(&(n * 2)).ok();
///     });
/// }
/// ```
#[derive(Debug)]
pub struct AckSender {
    socket: SocketRef,
    id: Option<u64>,
    attachments: Vec<Bytes>,
}

impl AckSender {
    /// Whether the client asked for an acknowledgement.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Attaches binary data to the answer.
    pub fn bin(mut self, attachments: impl IntoIterator<Item = impl Into<Bytes>>) -> Self {
        self.attachments
            .extend(attachments.into_iter().map(Into::into));
        self
    }

    /// Sends the answer (a tuple spreads into several arguments).
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        let Some(id) = self.id else {
            return Ok(());
        };
        let args = parser::encode_args(data, self.attachments)?;
        let frames = parser::encode(
            self.socket.ns.parser,
            PacketType::Ack,
            &self.socket.ns.name,
            Some(id),
            None,
            &args,
        );
        self.socket.send_frames(frames)
    }
}

impl FromMessageParts for AckSender {
    type Rejection = Infallible;
    fn from_message_parts(
        socket: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Infallible> {
        Ok(AckSender {
            socket: socket.clone(),
            id: parts.ack_id.take(),
            attachments: Vec::new(),
        })
    }
}

/// Shared application state, added with [`SocketIo::insert_state`](crate::SocketIo::insert_state).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tower_socketio::extract::{SocketRef, State};
/// use tower_socketio::SocketIo;
///
/// #[derive(Clone, Default)]
/// struct Counter(Arc<AtomicUsize>);
///
/// let io = SocketIo::new();
/// io.insert_state(Counter::default());
/// io.ns("/", |State(counter): State<Counter>| {
///     counter.0.fetch_add(1, Ordering::Relaxed);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

/// The state was never added.
///
/// ```
/// # use tower_socketio::extract::MissingState;
/// fn log(rejection: &MissingState) { tracing::debug!(%rejection); }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("no state of type {0} was added to the server")]
pub struct MissingState(&'static str);

/// A value stored on the socket (by a connect middleware, say) with
/// [`Socket::insert_extension`](crate::Socket::insert_extension).
///
/// ```
/// use tower_socketio::extract::{Extension, SocketRef};
/// use tower_socketio::SocketIo;
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef| {
///     socket.on("whoami", |socket: SocketRef, Extension(User(name)): Extension<User>| {
///         socket.emit("you-are", &name).ok();
///     });
/// })
/// .with(|socket: SocketRef| -> Result<(), &'static str> {
///     socket.insert_extension(User("alice".into()));
///     Ok(())
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Extension<T>(pub T);

/// The extension was never stored on the socket.
///
/// ```
/// # use tower_socketio::extract::MissingExtension;
/// fn log(rejection: &MissingExtension) { tracing::debug!(%rejection); }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("no extension of type {0} on the socket")]
pub struct MissingExtension(&'static str);

impl<T: Clone + Send + Sync + 'static> State<T> {
    fn from_socket(socket: &SocketRef) -> Result<Self, MissingState> {
        socket
            .ns
            .io()
            .and_then(|io| io.state::<T>())
            .map(State)
            .ok_or(MissingState(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromConnectParts for State<T> {
    type Rejection = MissingState;
    fn from_connect_parts(socket: &SocketRef, _: &Option<Value>) -> Result<Self, MissingState> {
        State::from_socket(socket)
    }
}

impl<T: Clone + Send + Sync + 'static> FromMessageParts for State<T> {
    type Rejection = MissingState;
    fn from_message_parts(socket: &SocketRef, _: &mut MessageParts) -> Result<Self, MissingState> {
        State::from_socket(socket)
    }
}

impl<T: Clone + Send + Sync + 'static> FromDisconnectParts for State<T> {
    type Rejection = MissingState;
    fn from_disconnect_parts(
        socket: &SocketRef,
        _: DisconnectReason,
    ) -> Result<Self, MissingState> {
        State::from_socket(socket)
    }
}

impl<T: Clone + Send + Sync + 'static> Extension<T> {
    fn from_socket(socket: &SocketRef) -> Result<Self, MissingExtension> {
        socket
            .extension::<T>()
            .map(Extension)
            .ok_or(MissingExtension(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromConnectParts for Extension<T> {
    type Rejection = MissingExtension;
    fn from_connect_parts(socket: &SocketRef, _: &Option<Value>) -> Result<Self, MissingExtension> {
        Extension::from_socket(socket)
    }
}

impl<T: Clone + Send + Sync + 'static> FromMessageParts for Extension<T> {
    type Rejection = MissingExtension;
    fn from_message_parts(
        socket: &SocketRef,
        _: &mut MessageParts,
    ) -> Result<Self, MissingExtension> {
        Extension::from_socket(socket)
    }
}

impl<T: Clone + Send + Sync + 'static> FromDisconnectParts for Extension<T> {
    type Rejection = MissingExtension;
    fn from_disconnect_parts(
        socket: &SocketRef,
        _: DisconnectReason,
    ) -> Result<Self, MissingExtension> {
        Extension::from_socket(socket)
    }
}

/// The server went away while the socket was still handled.
///
/// ```
/// # use tower_socketio::extract::ServerGone;
/// assert_eq!(ServerGone.to_string(), "the server is gone");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the server is gone")]
pub struct ServerGone;

impl FromConnectParts for crate::SocketIo {
    type Rejection = ServerGone;
    fn from_connect_parts(socket: &SocketRef, _: &Option<Value>) -> Result<Self, ServerGone> {
        socket.ns.io().ok_or(ServerGone)
    }
}

impl FromMessageParts for crate::SocketIo {
    type Rejection = ServerGone;
    fn from_message_parts(socket: &SocketRef, _: &mut MessageParts) -> Result<Self, ServerGone> {
        socket.ns.io().ok_or(ServerGone)
    }
}

impl FromDisconnectParts for crate::SocketIo {
    type Rejection = ServerGone;
    fn from_disconnect_parts(socket: &SocketRef, _: DisconnectReason) -> Result<Self, ServerGone> {
        socket.ns.io().ok_or(ServerGone)
    }
}

/// Any extractor may be optional: `Option<T>` is `None` where `T` would be rejected.
///
/// ```
/// use tower_socketio::extract::{Extension, SocketRef};
///
/// #[derive(Clone)]
/// struct Nick(String);
///
/// fn register(socket: &SocketRef) {
///     socket.on("hello", |socket: SocketRef, nick: Option<Extension<Nick>>| {
///         let name = nick.map_or("stranger".to_owned(), |Extension(Nick(n))| n);
///         socket.emit("hello", &name).ok();
///     });
/// }
/// ```
impl<T: FromMessageParts> FromMessageParts for Option<T> {
    type Rejection = Infallible;
    fn from_message_parts(
        socket: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Infallible> {
        Ok(T::from_message_parts(socket, parts).ok())
    }
}

impl<T: FromConnectParts> FromConnectParts for Option<T> {
    type Rejection = Infallible;
    fn from_connect_parts(socket: &SocketRef, auth: &Option<Value>) -> Result<Self, Infallible> {
        Ok(T::from_connect_parts(socket, auth).ok())
    }
}

impl<T: FromDisconnectParts> FromDisconnectParts for Option<T> {
    type Rejection = Infallible;
    fn from_disconnect_parts(
        socket: &SocketRef,
        reason: DisconnectReason,
    ) -> Result<Self, Infallible> {
        Ok(T::from_disconnect_parts(socket, reason).ok())
    }
}
