//! Connection handlers, connect middlewares, and where their arguments are extracted.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::{Async_, Sync_, all_the_tuples, run_to_first_await};
use crate::core::error::ConnectError;
use crate::socket::SocketRef;

/// Extracts a connection handler (or connect middleware) argument. `auth` is the payload of
/// the client's CONNECT packet.
///
/// ```
/// use serde_json::Value;
/// use tower_socketio::handler::FromConnectParts;
/// use tower_socketio::SocketRef;
///
/// /// The `token` of the auth payload, if any.
/// struct Token(Option<String>);
///
/// impl FromConnectParts for Token {
///     type Rejection = std::convert::Infallible;
///     fn from_connect_parts(_: &SocketRef, auth: &Option<Value>) -> Result<Self, Self::Rejection> {
///         Ok(Token(auth.as_ref().and_then(|a| a["token"].as_str()).map(str::to_owned)))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a connection handler or middleware",
    note = "connection handler arguments implement `FromConnectParts`: SocketRef, Data<T>, TryData<T>, State<T>, Extension<T>, SocketIo"
)]
pub trait FromConnectParts: Sized {
    /// Why extraction failed.
    type Rejection: std::fmt::Display;

    /// Extracts the argument.
    fn from_connect_parts(
        socket: &SocketRef,
        auth: &Option<Value>,
    ) -> Result<Self, Self::Rejection>;
}

/// A function that runs when a socket joins a namespace (Node's `io.on("connection")`): every
/// argument implements [`FromConnectParts`], and it returns `()` or a future of `()`.
///
/// ```
/// use serde_json::Value;
/// use tower_socketio::extract::{Data, SocketRef};
/// use tower_socketio::SocketIo;
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef, Data(auth): Data<Value>| {
///     socket.emit("welcome", &auth).ok();
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection handler",
    label = "not a connection handler",
    note = "a connection handler is a function whose arguments all implement `FromConnectParts` and which returns `()` or a future of `()`"
)]
pub trait ConnectHandler<T>: Send + Sync + 'static {
    /// Extracts the arguments and calls the handler.
    fn call(&self, socket: SocketRef, auth: Option<Value>);
}

/// A function that decides whether a socket may join a namespace (Node's `namespace.use`):
/// its arguments implement [`FromConnectParts`] and it returns `Result<(), E>` (or a future of
/// it) where `E` converts into a [`ConnectError`], which the client receives as
/// `connect_error`.
///
/// ```
/// use serde_json::Value;
/// use tower_socketio::extract::{Data, SocketRef};
/// use tower_socketio::{ConnectError, SocketIo};
///
/// let io = SocketIo::new();
/// io.ns("/", |_socket: SocketRef| {})
///     .with(|Data(auth): Data<Value>| async move {
///         if auth["token"] == "secret" {
///             Ok(())
///         } else {
///             Err(ConnectError::new("not authorized").with_data(serde_json::json!({"retry": false})))
///         }
///     });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connect middleware",
    label = "not a connect middleware",
    note = "a connect middleware is a function whose arguments all implement `FromConnectParts` and which returns `Result<(), E>` or a future of it, with `E: Into<ConnectError>`"
)]
pub trait ConnectMiddleware<T>: Send + Sync + 'static {
    /// Extracts the arguments and runs the middleware.
    fn call(&self, socket: SocketRef, auth: Option<Value>) -> MiddlewareFuture;
}

/// What a connect middleware returns once erased.
///
/// ```
/// use tower_socketio::handler::MiddlewareFuture;
///
/// fn allow_all() -> MiddlewareFuture {
///     Box::pin(async { Ok(()) })
/// }
/// # let _ = allow_all();
/// ```
pub type MiddlewareFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send>>;

macro_rules! impl_connect_handler {
    ($($ty:ident),*) => {
        impl<F, $($ty,)*> ConnectHandler<(Sync_, $($ty,)*)> for F
        where
            F: Fn($($ty),*) + Send + Sync + 'static,
            $($ty: FromConnectParts,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, socket: SocketRef, auth: Option<Value>) {
                $(
                    let $ty = match $ty::from_connect_parts(&socket, &auth) {
                        Ok(value) => value,
                        Err(rejection) => {
                            tracing::debug!(%rejection, "connection handler not called");
                            return;
                        }
                    };
                )*
                (self)($($ty),*);
            }
        }

        impl<F, Fut, $($ty,)*> ConnectHandler<(Async_, $($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromConnectParts,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, socket: SocketRef, auth: Option<Value>) {
                $(
                    let $ty = match $ty::from_connect_parts(&socket, &auth) {
                        Ok(value) => value,
                        Err(rejection) => {
                            tracing::debug!(%rejection, "connection handler not called");
                            return;
                        }
                    };
                )*
                run_to_first_await((self)($($ty),*));
            }
        }

        impl<F, E, $($ty,)*> ConnectMiddleware<(Sync_, E, $($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Result<(), E> + Send + Sync + 'static,
            E: Into<ConnectError> + 'static,
            $($ty: FromConnectParts,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, socket: SocketRef, auth: Option<Value>) -> MiddlewareFuture {
                $(
                    let $ty = match $ty::from_connect_parts(&socket, &auth) {
                        Ok(value) => value,
                        Err(rejection) => {
                            let error = ConnectError::new(rejection.to_string());
                            return Box::pin(std::future::ready(Err(error)));
                        }
                    };
                )*
                let result = (self)($($ty),*).map_err(Into::into);
                Box::pin(std::future::ready(result))
            }
        }

        impl<F, Fut, E, $($ty,)*> ConnectMiddleware<(Async_, E, $($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), E>> + Send + 'static,
            E: Into<ConnectError> + 'static,
            $($ty: FromConnectParts,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, socket: SocketRef, auth: Option<Value>) -> MiddlewareFuture {
                $(
                    let $ty = match $ty::from_connect_parts(&socket, &auth) {
                        Ok(value) => value,
                        Err(rejection) => {
                            let error = ConnectError::new(rejection.to_string());
                            return Box::pin(std::future::ready(Err(error)));
                        }
                    };
                )*
                let future = (self)($($ty),*);
                Box::pin(async move { future.await.map_err(Into::into) })
            }
        }
    };
}

all_the_tuples!(impl_connect_handler);

pub(crate) trait ErasedConnectHandler: Send + Sync + 'static {
    fn call(&self, socket: SocketRef, auth: Option<Value>);
}

pub(crate) trait ErasedConnectMiddleware: Send + Sync + 'static {
    fn call(&self, socket: SocketRef, auth: Option<Value>) -> MiddlewareFuture;
}

struct Erased<H, T>(H, PhantomData<fn() -> T>);

impl<H: ConnectHandler<T>, T: 'static> ErasedConnectHandler for Erased<H, T> {
    fn call(&self, socket: SocketRef, auth: Option<Value>) {
        self.0.call(socket, auth);
    }
}

struct ErasedMiddleware<H, T>(H, PhantomData<fn() -> T>);

impl<H: ConnectMiddleware<T>, T: 'static> ErasedConnectMiddleware for ErasedMiddleware<H, T> {
    fn call(&self, socket: SocketRef, auth: Option<Value>) -> MiddlewareFuture {
        self.0.call(socket, auth)
    }
}

pub(crate) type BoxedConnectHandler = Arc<dyn ErasedConnectHandler>;
pub(crate) type BoxedConnectMiddleware = Arc<dyn ErasedConnectMiddleware>;

pub(crate) fn boxed<H: ConnectHandler<T>, T: 'static>(handler: H) -> BoxedConnectHandler {
    Arc::new(Erased(handler, PhantomData))
}

pub(crate) fn boxed_middleware<H: ConnectMiddleware<T>, T: 'static>(
    middleware: H,
) -> BoxedConnectMiddleware {
    Arc::new(ErasedMiddleware(middleware, PhantomData))
}
