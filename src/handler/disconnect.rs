//! Disconnect handlers and where their arguments are extracted.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{Async_, Sync_, all_the_tuples, run_to_first_await};
use crate::socket::{DisconnectReason, SocketRef};

/// Extracts a disconnect handler argument.
///
/// ```
/// use tower_socketio::handler::FromDisconnectParts;
/// use tower_socketio::{DisconnectReason, SocketRef};
///
/// /// Whether the client meant to leave.
/// struct Voluntary(bool);
///
/// impl FromDisconnectParts for Voluntary {
///     type Rejection = std::convert::Infallible;
///     fn from_disconnect_parts(_: &SocketRef, reason: DisconnectReason) -> Result<Self, Self::Rejection> {
///         Ok(Voluntary(reason == DisconnectReason::ClientNamespaceDisconnect))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a disconnect handler",
    note = "disconnect handler arguments implement `FromDisconnectParts`: SocketRef, DisconnectReason, State<T>, Extension<T>, SocketIo"
)]
pub trait FromDisconnectParts: Sized {
    /// Why extraction failed.
    type Rejection: std::fmt::Display;

    /// Extracts the argument.
    fn from_disconnect_parts(
        socket: &SocketRef,
        reason: DisconnectReason,
    ) -> Result<Self, Self::Rejection>;
}

/// A function that runs when a socket disconnects: every argument implements
/// [`FromDisconnectParts`], and it returns `()` or a future of `()`.
///
/// ```
/// use tower_socketio::extract::SocketRef;
/// use tower_socketio::DisconnectReason;
///
/// fn register(socket: &SocketRef) {
///     socket.on_disconnect(|socket: SocketRef, reason: DisconnectReason| {
///         println!("{} left: {reason}", socket.id());
///     });
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a disconnect handler",
    label = "not a disconnect handler",
    note = "a disconnect handler is a function whose arguments all implement `FromDisconnectParts` and which returns `()` or a future of `()`"
)]
pub trait DisconnectHandler<T>: Send + Sync + 'static {
    /// Extracts the arguments and calls the handler.
    fn call(&self, socket: SocketRef, reason: DisconnectReason);
}

macro_rules! impl_disconnect_handler {
    ($($ty:ident),*) => {
        impl<F, $($ty,)*> DisconnectHandler<(Sync_, $($ty,)*)> for F
        where
            F: Fn($($ty),*) + Send + Sync + 'static,
            $($ty: FromDisconnectParts,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, socket: SocketRef, reason: DisconnectReason) {
                $(
                    let $ty = match $ty::from_disconnect_parts(&socket, reason) {
                        Ok(value) => value,
                        Err(rejection) => {
                            tracing::debug!(%rejection, "disconnect handler not called");
                            return;
                        }
                    };
                )*
                (self)($($ty),*);
            }
        }

        impl<F, Fut, $($ty,)*> DisconnectHandler<(Async_, $($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromDisconnectParts,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, socket: SocketRef, reason: DisconnectReason) {
                $(
                    let $ty = match $ty::from_disconnect_parts(&socket, reason) {
                        Ok(value) => value,
                        Err(rejection) => {
                            tracing::debug!(%rejection, "disconnect handler not called");
                            return;
                        }
                    };
                )*
                run_to_first_await((self)($($ty),*));
            }
        }
    };
}

all_the_tuples!(impl_disconnect_handler);

pub(crate) trait ErasedDisconnectHandler: Send + Sync + 'static {
    fn call(&self, socket: SocketRef, reason: DisconnectReason);
}

struct Erased<H, T>(H, PhantomData<fn() -> T>);

impl<H: DisconnectHandler<T>, T: 'static> ErasedDisconnectHandler for Erased<H, T> {
    fn call(&self, socket: SocketRef, reason: DisconnectReason) {
        self.0.call(socket, reason);
    }
}

pub(crate) type BoxedDisconnectHandler = Arc<dyn ErasedDisconnectHandler>;

pub(crate) fn boxed<H: DisconnectHandler<T>, T: 'static>(handler: H) -> BoxedDisconnectHandler {
    Arc::new(Erased(handler, PhantomData))
}
