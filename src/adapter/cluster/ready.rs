//! Readiness: whether the transport (Redis, PostgreSQL) confirmed that a namespace listens to
//! its channels, which is what [`Adapter::ready`](crate::adapter::Adapter::ready) waits for.
//!
//! The listening task sets it once the transport confirmed every subscription a namespace asked
//! for when it was registered (retried ones included); it stays set. Closing the adapter first
//! fails whoever waits. Nobody holds a lock while waiting for it.

use std::future::Future;

use tokio::sync::watch;

use crate::core::error::AdapterError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Ready,
    Closed,
}

/// Leaves `Waiting` once, for `Ready` or `Closed`.
#[derive(Debug)]
pub(crate) struct Readiness(watch::Sender<State>);

impl Readiness {
    pub(crate) fn new() -> Self {
        Readiness(watch::channel(State::Waiting).0)
    }

    /// Marks it ready (unless closed before) and wakes whoever waits.
    pub(crate) fn set(&self) {
        self.leave_waiting(State::Ready);
    }

    /// The adapter was closed before it was ready: whoever waits fails.
    pub(crate) fn close(&self) {
        self.leave_waiting(State::Closed);
    }

    fn leave_waiting(&self, to: State) {
        self.0.send_if_modified(|state| {
            let waiting = *state == State::Waiting;
            if waiting {
                *state = to;
            }
            waiting
        });
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow() == State::Ready
    }

    /// Resolves once set; fails once closed, or if it is dropped (its adapter is gone).
    pub(crate) fn wait(&self) -> impl Future<Output = Result<(), AdapterError>> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let state = rx
                .wait_for(|state| *state != State::Waiting)
                .await
                .map(|state| *state);
            match state {
                Ok(State::Ready) => Ok(()),
                _ => Err(AdapterError::Closed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_wakes_waiters_and_stays_set() {
        let ready = Readiness::new();
        assert!(!ready.is_set());
        let waiter = tokio::spawn(ready.wait());
        tokio::task::yield_now().await;
        ready.set();
        assert!(matches!(waiter.await, Ok(Ok(()))));
        ready.close();
        assert!(ready.is_set());
        assert!(ready.wait().await.is_ok());
    }

    #[tokio::test]
    async fn closed_or_dropped_unset_fails() {
        let ready = Readiness::new();
        let waiter = tokio::spawn(ready.wait());
        tokio::task::yield_now().await;
        ready.close();
        assert!(matches!(waiter.await, Ok(Err(_))));
        ready.set();
        assert!(!ready.is_set(), "closed stays closed");

        let ready = Readiness::new();
        let waiter = ready.wait();
        drop(ready);
        assert!(waiter.await.is_err());
    }
}
