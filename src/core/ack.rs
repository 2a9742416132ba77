//! Acknowledgements: answers to emits, in both directions.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::core::error::AckError;
use crate::core::sync::lock;
use crate::engine::Sid;

/// A client's answer to an emit with ack.
///
/// ```
/// use tower_socketio::AckResponse;
///
/// let answer = AckResponse { args: vec![serde_json::json!(42)], attachments: vec![] };
/// assert_eq!(answer.data::<u32>().unwrap(), 42);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AckResponse {
    /// The arguments the client answered with.
    pub args: Vec<Value>,
    /// Its binary attachments.
    pub attachments: Vec<Bytes>,
}

impl AckResponse {
    /// Deserializes the answer: the argument itself when there is one, else the array of all.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        crate::extract::deserialize_args(&self.args)
    }
}

/// Acks waiting for an answer, by id.
#[derive(Debug, Default)]
pub(crate) struct PendingAcks(Mutex<HashMap<u64, oneshot::Sender<AckResponse>>>);

impl PendingAcks {
    pub(crate) fn insert(&self, id: u64, tx: oneshot::Sender<AckResponse>) {
        lock(&self.0).insert(id, tx);
    }

    pub(crate) fn remove(&self, id: u64) {
        lock(&self.0).remove(&id);
    }

    /// Delivers an answer; an unknown id is ignored, as Node ignores it.
    pub(crate) fn resolve(&self, id: u64, response: AckResponse) {
        let tx = lock(&self.0).remove(&id);
        match tx {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => tracing::debug!(id, "ack for an unknown id"),
        }
    }

    /// The socket is gone: every waiter learns it.
    pub(crate) fn fail_all(&self) {
        lock(&self.0).clear();
    }
}

/// Resolves to the client's answer, or to an [`AckError`] on timeout or disconnection.
///
/// ```no_run
/// # async fn f(socket: tower_socketio::SocketRef) -> Result<(), Box<dyn std::error::Error>> {
/// let answer = socket.emit_with_ack("question", &"ready?")?.await?;
/// let ready: bool = answer.data()?;
/// # Ok(()) }
/// ```
pub struct AckFuture {
    rx: oneshot::Receiver<AckResponse>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    asked: Arc<dyn AckWaiters>,
    id: u64,
    done: bool,
}

/// Whoever was asked for an ack and keeps its waiter (a socket): the future forgets the
/// waiter when it times out or is dropped, so a late answer is ignored rather than kept.
pub(crate) trait AckWaiters: Send + Sync {
    /// The id of the socket asked.
    fn asked_id(&self) -> Sid;
    /// Forgets the waiter of ack `id`.
    fn forget_ack(&self, id: u64);
}

impl AckFuture {
    pub(crate) fn new(
        rx: oneshot::Receiver<AckResponse>,
        timeout: Duration,
        asked: Arc<dyn AckWaiters>,
        id: u64,
    ) -> Self {
        AckFuture {
            rx,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            asked,
            id,
            done: false,
        }
    }

    /// The id of the socket asked.
    pub fn socket_id(&self) -> Sid {
        self.asked.asked_id()
    }
}

impl std::fmt::Debug for AckFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckFuture")
            .field("socket", &self.socket_id())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Future for AckFuture {
    type Output = Result<AckResponse, AckError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(result) = Pin::new(&mut self.rx).poll(cx) {
            self.done = true;
            return Poll::Ready(result.map_err(|_| AckError::Disconnected));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            self.asked.forget_ack(self.id);
            crate::metrics::global().ack_timeouts.increment(1);
            return Poll::Ready(Err(AckError::Timeout));
        }
        Poll::Pending
    }
}

impl Drop for AckFuture {
    fn drop(&mut self) {
        if !self.done {
            self.asked.forget_ack(self.id);
        }
    }
}

/// Every receiver's answer to a broadcast with ack, once all answered or the timeout ran out.
///
/// ```no_run
/// # async fn f(io: tower_socketio::SocketIo) -> Result<(), tower_socketio::EmitError> {
/// use std::time::Duration;
///
/// let answers = io.timeout(Duration::from_secs(2)).emit_with_ack("vote", &"a or b?").await?.await;
/// for (socket, answer) in answers {
///     match answer {
///         Ok(answer) => println!("{socket}: {:?}", answer.args),
///         Err(err) => println!("{socket}: {err}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub type BroadcastAckFuture =
    Pin<Box<dyn Future<Output = Vec<(Sid, Result<AckResponse, AckError>)>> + Send>>;

pub(crate) fn collect_acks(futures: Vec<AckFuture>) -> BroadcastAckFuture {
    Box::pin(async move {
        let ids: Vec<Sid> = futures.iter().map(AckFuture::socket_id).collect();
        let results = futures_util::future::join_all(futures).await;
        ids.into_iter().zip(results).collect()
    })
}
