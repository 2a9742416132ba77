//! Event handlers and where their arguments are extracted.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{Async_, Sync_, all_the_tuples, run_to_first_await};
use crate::socket::SocketRef;

/// What an event handler's extractors draw from: the event, its arguments, its attachments
/// and its ack id.
///
/// ```
/// use tower_socketio::handler::{FromMessageParts, MessageParts};
/// use tower_socketio::SocketRef;
///
/// /// Whether the client wants an answer.
/// struct WantsAck(bool);
///
/// impl FromMessageParts for WantsAck {
///     type Rejection = std::convert::Infallible;
///     fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, Self::Rejection> {
///         Ok(WantsAck(parts.ack_id().is_some()))
///     }
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MessageParts {
    pub(crate) event: String,
    pub(crate) args: Vec<Value>,
    pub(crate) attachments: Vec<Bytes>,
    pub(crate) ack_id: Option<u64>,
}

impl MessageParts {
    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The JSON arguments (binary attachments appear as placeholders).
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The binary attachments.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The id the client expects its acknowledgement under, if it asked for one.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack_id
    }
}

/// Extracts an event handler argument.
///
/// ```
/// use tower_socketio::handler::{FromMessageParts, MessageParts};
/// use tower_socketio::SocketRef;
///
/// /// How many arguments the event came with.
/// struct ArgCount(usize);
///
/// impl FromMessageParts for ArgCount {
///     type Rejection = std::convert::Infallible;
///     fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, Self::Rejection> {
///         Ok(ArgCount(parts.args().len()))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of an event handler",
    note = "event handler arguments implement `FromMessageParts`: SocketRef, Data<T>, TryData<T>, Args, Bin, AckSender, Event, State<T>, Extension<T>, SocketIo"
)]
pub trait FromMessageParts: Sized {
    /// Why extraction failed.
    type Rejection: std::fmt::Display;

    /// Extracts the argument.
    fn from_message_parts(
        socket: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Self::Rejection>;

    /// Extracts the handler's last argument: no extractor reads the parts after this one, so
    /// it may take what it needs out of them instead of copying it (as `Data<T>` does with the
    /// event's arguments). The same as [`from_message_parts`](Self::from_message_parts)
    /// unless overridden.
    fn from_last_message_parts(
        socket: &SocketRef,
        parts: &mut MessageParts,
    ) -> Result<Self, Self::Rejection> {
        Self::from_message_parts(socket, parts)
    }
}

/// Extracts the argument at `position` (counted from 1) of `count`: the last one may take.
fn extract<T: FromMessageParts>(
    socket: &SocketRef,
    parts: &mut MessageParts,
    position: usize,
    count: usize,
) -> Result<T, T::Rejection> {
    if position == count {
        T::from_last_message_parts(socket, parts)
    } else {
        T::from_message_parts(socket, parts)
    }
}

/// A function that can handle an event: every argument implements [`FromMessageParts`], and it
/// returns `()` or a future of `()`.
///
/// ```
/// use tower_socketio::extract::{AckSender, Data, SocketRef};
///
/// fn register(socket: &SocketRef) {
///     socket.on("ping", |socket: SocketRef| {
///         socket.emit("pong", &()).ok();
///     });
///     socket.on("add", |Data((a, b)): Data<(i64, i64)>, ack: AckSender| async move {
///         ack.send(&(a + b)).ok();
///     });
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event handler",
    label = "not an event handler",
    note = "an event handler is a function (or closure) whose arguments all implement `FromMessageParts` and which returns `()` or a future of `()`, with at most 12 arguments"
)]
pub trait MessageHandler<T>: Send + Sync + 'static {
    /// Extracts the arguments and calls the handler.
    fn call(&self, socket: SocketRef, parts: MessageParts);
}

macro_rules! impl_message_handler {
    ($($ty:ident),*) => {
        impl<F, $($ty,)*> MessageHandler<(Sync_, $($ty,)*)> for F
        where
            F: Fn($($ty),*) + Send + Sync + 'static,
            $($ty: FromMessageParts,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, socket: SocketRef, mut parts: MessageParts) {
                let count = <[&str]>::len(&[$(stringify!($ty)),*]);
                let mut position = 0;
                $(
                    position += 1;
                    let $ty = match extract::<$ty>(&socket, &mut parts, position, count) {
                        Ok(value) => value,
                        Err(rejection) => {
                            tracing::debug!(event = %parts.event, %rejection, "handler not called");
                            return;
                        }
                    };
                )*
                let started = crate::metrics::Stopwatch::start();
                (self)($($ty),*);
                socket.ns.metrics.handler_done(started);
            }
        }

        impl<F, Fut, $($ty,)*> MessageHandler<(Async_, $($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromMessageParts,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, socket: SocketRef, mut parts: MessageParts) {
                let count = <[&str]>::len(&[$(stringify!($ty)),*]);
                let mut position = 0;
                $(
                    position += 1;
                    let $ty = match extract::<$ty>(&socket, &mut parts, position, count) {
                        Ok(value) => value,
                        Err(rejection) => {
                            tracing::debug!(event = %parts.event, %rejection, "handler not called");
                            return;
                        }
                    };
                )*
                let histogram = &socket.ns.metrics.handler_duration;
                run_to_first_await(crate::metrics::timed(histogram, (self)($($ty),*)));
            }
        }
    };
}

all_the_tuples!(impl_message_handler);

pub(crate) trait ErasedMessageHandler: Send + Sync + 'static {
    fn call(&self, socket: SocketRef, parts: MessageParts);
}

struct Erased<H, T>(H, PhantomData<fn() -> T>);

impl<H, T> ErasedMessageHandler for Erased<H, T>
where
    H: MessageHandler<T>,
    T: 'static,
{
    fn call(&self, socket: SocketRef, parts: MessageParts) {
        self.0.call(socket, parts);
    }
}

pub(crate) type BoxedMessageHandler = Arc<dyn ErasedMessageHandler>;

pub(crate) fn boxed<H, T>(handler: H) -> BoxedMessageHandler
where
    H: MessageHandler<T>,
    T: 'static,
{
    Arc::new(Erased(handler, PhantomData))
}
