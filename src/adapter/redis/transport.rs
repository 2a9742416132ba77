//! What the adapter needs from Redis, as a trait: the [`Driver`] is the `redis` crate side, and
//! the message handling (decode, dispatch, local effects, answers) can be tested without a
//! Redis against an in-memory fake.

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

use super::RedisAdapterConfig;
use super::adapter::NsShared;
use super::driver::{Driver, Outgoing, Subscription};
use super::live::SessionWrite;
use crate::core::error::AdapterError;

/// A boxed future of a transport operation.
pub(crate) type TransportFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send + 'a>>;

/// The Redis side of the adapter of every namespace of one server.
pub(crate) trait Transport: Send + Sync + 'static {
    /// The adapter's configuration.
    fn config(&self) -> &RedisAdapterConfig;

    /// Queues a message, in order with the others; an error when it cannot be queued.
    fn publish(&self, message: Outgoing) -> Result<(), AdapterError>;

    /// How many subscribers `channel` has (`PUBSUB NUMSUB`, or `SHARDNUMSUB` when `sharded`).
    fn numsub<'a>(&'a self, channel: &'a str, sharded: bool) -> TransportFuture<'a, usize>;

    /// Starts routing messages to a namespace (adapter `id`) and subscribes its channels.
    fn register(&self, id: u64, ns: Weak<NsShared>);

    /// Stops routing to adapter `id` and drops its subscriptions.
    fn unregister(&self, id: u64);

    /// Adds subscriptions of adapter `id`.
    fn subscribe(&self, id: u64, subscriptions: Vec<Subscription>);

    /// Drops subscriptions of adapter `id`.
    fn unsubscribe(&self, id: u64, subscriptions: Vec<Subscription>);

    /// Session keys written and deleted, in order, in one pipelined round trip.
    fn write_sessions(&self, writes: Vec<SessionWrite>) -> TransportFuture<'_, ()>;

    /// Streams mode: the id of the last entry read and delivered to every namespace.
    fn stream_position(&self) -> Option<String>;

    /// `GETDEL <key>` and `XRANGE <stream> <id> <id>` in one round trip: the value taken, and
    /// the entry `id` if the stream still has it.
    fn take_and_find<'a>(
        &'a self,
        key: String,
        stream: &'a str,
        id: &'a str,
    ) -> TransportFuture<'a, (Option<Vec<u8>>, redis::Value)>;

    /// `XRANGE <stream> <start> + COUNT <count>`.
    fn xrange<'a>(
        &'a self,
        stream: &'a str,
        start: String,
        count: usize,
    ) -> TransportFuture<'a, redis::Value>;

    /// `XLEN <stream>`.
    fn xlen<'a>(&'a self, stream: &'a str) -> TransportFuture<'a, u64>;
}

impl Transport for Driver {
    fn config(&self) -> &RedisAdapterConfig {
        &self.config
    }

    fn publish(&self, message: Outgoing) -> Result<(), AdapterError> {
        Driver::publish(self, message)
    }

    fn numsub<'a>(&'a self, channel: &'a str, sharded: bool) -> TransportFuture<'a, usize> {
        Box::pin(Driver::numsub(self, channel, sharded))
    }

    fn register(&self, id: u64, ns: Weak<NsShared>) {
        Driver::register(self, id, ns);
    }

    fn unregister(&self, id: u64) {
        Driver::unregister(self, id);
    }

    fn subscribe(&self, id: u64, subscriptions: Vec<Subscription>) {
        Driver::subscribe(self, id, subscriptions);
    }

    fn unsubscribe(&self, id: u64, subscriptions: Vec<Subscription>) {
        Driver::unsubscribe(self, id, subscriptions);
    }

    fn stream_position(&self) -> Option<String> {
        Driver::stream_position(self)
    }

    fn write_sessions(&self, writes: Vec<SessionWrite>) -> TransportFuture<'_, ()> {
        Box::pin(async move {
            self.commands
                .write_sessions(writes)
                .await
                .map_err(AdapterError::transport)
        })
    }

    fn take_and_find<'a>(
        &'a self,
        key: String,
        stream: &'a str,
        id: &'a str,
    ) -> TransportFuture<'a, (Option<Vec<u8>>, redis::Value)> {
        Box::pin(async move {
            self.commands
                .take_and_find(key, stream, id)
                .await
                .map_err(AdapterError::transport)
        })
    }

    fn xlen<'a>(&'a self, stream: &'a str) -> TransportFuture<'a, u64> {
        let mut cmd = redis::cmd("XLEN");
        cmd.arg(stream);
        Box::pin(async move {
            self.commands
                .stream_command(cmd)
                .await
                .map_err(AdapterError::transport)
        })
    }

    fn xrange<'a>(
        &'a self,
        stream: &'a str,
        start: String,
        count: usize,
    ) -> TransportFuture<'a, redis::Value> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(stream).arg(start).arg("+").arg("COUNT").arg(count);
        Box::pin(async move {
            self.commands
                .stream_command(cmd)
                .await
                .map_err(AdapterError::transport)
        })
    }
}
