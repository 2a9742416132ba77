//! Handlers: plain functions whose arguments are extractors, the way axum handlers are.
//!
//! Three kinds of handler exist, each with its own extractor trait:
//!
//! | handler | registered with | arguments implement |
//! | --- | --- | --- |
//! | connection | [`SocketIo::ns`](crate::SocketIo::ns) | [`FromConnectParts`] |
//! | event | [`Socket::on`](crate::Socket::on) | [`FromMessageParts`] |
//! | disconnect | [`Socket::on_disconnect`](crate::Socket::on_disconnect) | [`FromDisconnectParts`] |
//!
//! A handler may be synchronous (`|socket: SocketRef| { ... }`) or asynchronous
//! (`|socket: SocketRef| async move { ... }`), with up to 12 arguments.
//!
//! ## Order and concurrency
//!
//! The packets of one client are handled one after another, in the order they arrived: a
//! handler is called, and runs until it returns or first waits (`.await` on something not
//! ready), before the next packet is looked at. What is left of an asynchronous handler then
//! runs as its own tokio task, concurrently with the handlers of later packets. This is Node's
//! model exactly (a listener runs synchronously up to its first `await`), so replies emitted
//! before any `.await` keep the order of the requests, and one slow handler never blocks the
//! client's other events or its acknowledgements.
//!
//! If an extractor fails (for example [`Data<T>`](crate::extract::Data) does not deserialize),
//! the handler is not called and the failure is logged at `debug`; use
//! [`TryData<T>`](crate::extract::TryData) to see the error yourself.

pub(crate) mod connect;
pub(crate) mod disconnect;
pub(crate) mod message;
pub(crate) mod table;

pub use connect::{ConnectHandler, ConnectMiddleware, FromConnectParts};
pub use disconnect::{DisconnectHandler, FromDisconnectParts};
pub use message::{FromMessageParts, MessageHandler, MessageParts};

pub use connect::MiddlewareFuture;
pub(crate) use connect::{BoxedConnectHandler, BoxedConnectMiddleware};
pub(crate) use disconnect::BoxedDisconnectHandler;

use std::future::Future;
use std::task::{Context, Waker};

pub(crate) use markers::{Async_, Sync_};

/// Marker types that tell a handler returning `()` from one returning a future, so one
/// closure type can implement a handler trait in exactly one way. Public, as trait impls
/// require, but in a private module: users can neither name nor depend on them.
mod markers {
    /// Marks handlers that return `()`.
    #[derive(Debug)]
    pub struct Sync_;

    /// Marks handlers that return a future.
    #[derive(Debug)]
    pub struct Async_;
}

/// Runs a handler's future up to its first pending point right here, so handlers start in
/// the order their packets arrived, then hands the rest to tokio.
pub(crate) fn run_to_first_await<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    // Polling once with a no-op waker is sound: if the future is pending, the spawned task
    // polls it again at once and registers its real waker.
    if future.as_mut().poll(&mut cx).is_pending() {
        // The rest of the handler keeps the span of the socket it runs for.
        tokio::spawn(tracing::Instrument::in_current_span(future));
    }
}

/// Calls `$name!` once for every argument count from 0 to 12.
macro_rules! all_the_tuples {
    ($name:ident) => {
        $name!();
        $name!(T1);
        $name!(T1, T2);
        $name!(T1, T2, T3);
        $name!(T1, T2, T3, T4);
        $name!(T1, T2, T3, T4, T5);
        $name!(T1, T2, T3, T4, T5, T6);
        $name!(T1, T2, T3, T4, T5, T6, T7);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12);
    };
}
pub(crate) use all_the_tuples;
