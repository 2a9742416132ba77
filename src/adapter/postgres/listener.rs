//! The `LISTEN` connection and the dispatch of what it hears.
//!
//! One task owns the connection: it listens to every registered namespace's channel, watches
//! the connection (its end, and a liveness query every heartbeat interval, so a connection that
//! went silent is noticed too), and when it is gone (`pg_terminate_backend`, a restart, a
//! network failure) reconnects after a growing, jittered delay, listens again and tells each
//! namespace, which announces itself again. It never gives up and never panics.
//!
//! Notifications go, in the order PostgreSQL delivered them, through a bounded queue to a
//! dispatch task, which reads attachments (on a connection of its own, so the listening one is
//! never blocked by a large read) and hands each message to its namespace, one at a time: the
//! order of each sender is kept.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::attachments;
use super::config::PostgresAdapterConfig;
use super::driver::Registry;
use super::wire::{self, Notice, listen_statement, namespace_of};
use crate::adapter::cluster::codec::{self, Decoded};
use std::sync::Arc;

/// What the listening task is asked to do.
#[derive(Debug)]
pub(super) enum ListenCommand {
    /// Listen to a channel (a namespace was registered).
    Listen(String),
    /// Stop listening to a channel (its namespace's adapter closed).
    Unlisten(String),
}

/// A notification as PostgreSQL delivered it.
struct Incoming {
    channel: String,
    payload: String,
}

/// How long to wait before the next attempt: doubling from 100 ms to 5 s, with jitter so that
/// the nodes of a cluster do not all reconnect at once after a restart.
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    pub(super) fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    pub(super) fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The delay before the next attempt (between half and all of the current step).
    pub(super) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        step.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }
}

/// Connects, giving up after `timeout` (an unreachable host must not hold the task forever).
pub(crate) async fn connect_with_timeout(
    pg_config: &tokio_postgres::Config,
    timeout: Duration,
) -> Result<
    (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    String,
> {
    match tokio::time::timeout(timeout, pg_config.connect(NoTls)).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Starts the listening task and the dispatch task.
pub(super) fn spawn(
    pg_config: tokio_postgres::Config,
    config: PostgresAdapterConfig,
    registry: Arc<Registry>,
    commands: mpsc::UnboundedReceiver<ListenCommand>,
) {
    let (incoming, incoming_rx) = mpsc::channel(config.incoming_capacity);
    tokio::spawn(dispatch(
        pg_config.clone(),
        config.clone(),
        registry.clone(),
        incoming_rx,
    ));
    tokio::spawn(listen(pg_config, config, registry, commands, incoming));
}

/// One connection's life: its client, and a signal when its connection ended.
struct Session {
    client: Client,
    ended: oneshot::Receiver<()>,
}

/// Connects and starts driving the connection: notifications go to `incoming`.
async fn open_session(
    pg_config: &tokio_postgres::Config,
    incoming: &mpsc::Sender<Incoming>,
) -> Result<Session, String> {
    let (client, mut connection) = connect_with_timeout(pg_config, Duration::from_secs(10)).await?;
    let (ended_tx, ended) = oneshot::channel();
    let incoming = incoming.clone();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let item = Incoming {
                        channel: n.channel().to_owned(),
                        payload: n.payload().to_owned(),
                    };
                    match incoming.try_send(item) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => tracing::warn!(
                            channel = n.channel(),
                            "PostgreSQL incoming queue full: a notification is dropped"
                        ),
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    }
                }
                Ok(AsyncMessage::Notice(notice)) => {
                    tracing::debug!(notice = %notice, "PostgreSQL notice on the LISTEN connection");
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "PostgreSQL LISTEN connection failed");
                    break;
                }
            }
        }
        let _ = ended_tx.send(());
    });
    Ok(Session { client, ended })
}

/// The listening task: connect, listen, watch; reconnect when it ends.
async fn listen(
    pg_config: tokio_postgres::Config,
    config: PostgresAdapterConfig,
    registry: Arc<Registry>,
    mut commands: mpsc::UnboundedReceiver<ListenCommand>,
    incoming: mpsc::Sender<Incoming>,
) {
    let mut backoff = Backoff::new();
    loop {
        match open_session(&pg_config, &incoming).await {
            Ok(session) => {
                let since = Instant::now();
                let outcome = serve(session, &config, &registry, &mut commands).await;
                if outcome == Outcome::Stop {
                    return;
                }
                // A connection that lived a while starts the delays over.
                if since.elapsed() > Duration::from_secs(10) {
                    backoff.reset();
                }
                tracing::warn!("PostgreSQL LISTEN connection lost; reconnecting");
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not connect the PostgreSQL LISTEN connection; retrying");
            }
        }
        // Waits, but stops at once when the server is gone (commands closed).
        let delay = tokio::time::sleep(backoff.next_delay());
        tokio::pin!(delay);
        loop {
            tokio::select! {
                _ = &mut delay => break,
                command = commands.recv() => if command.is_none() { return },
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The connection is gone: reconnect.
    Lost,
    /// The server is gone: stop.
    Stop,
}

/// Listens to every registered channel on a fresh connection, then carries out commands and
/// watches the connection until it ends.
async fn serve(
    mut session: Session,
    config: &PostgresAdapterConfig,
    registry: &Registry,
    commands: &mut mpsc::UnboundedReceiver<ListenCommand>,
) -> Outcome {
    for ns in registry.all() {
        if !listen_to(&session.client, &ns.channel).await {
            return Outcome::Lost;
        }
        ns.on_listening();
    }
    let mut liveness = tokio::time::interval(config.heartbeat_interval);
    liveness.reset();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => return Outcome::Stop,
                Some(ListenCommand::Listen(channel)) => {
                    if !listen_to(&session.client, &channel).await {
                        return Outcome::Lost;
                    }
                    let nsp = namespace_of(&config.channel_prefix, &channel);
                    if let Some(ns) = nsp.and_then(|nsp| registry.get(nsp)) {
                        ns.on_listening();
                    }
                }
                Some(ListenCommand::Unlisten(channel)) => {
                    let statement = format!("UN{}", listen_statement(&channel));
                    if let Err(err) = session.client.batch_execute(&statement).await {
                        tracing::debug!(error = %err, channel, "UNLISTEN failed");
                    }
                }
            },
            _ = &mut session.ended => return Outcome::Lost,
            _ = liveness.tick() => {
                let probe = session.client.simple_query("SELECT 1");
                let limit = config.heartbeat_interval.max(Duration::from_secs(1));
                if !matches!(tokio::time::timeout(limit, probe).await, Ok(Ok(_))) {
                    return Outcome::Lost;
                }
            }
        }
    }
}

/// `LISTEN "<channel>"`; whether the connection is still usable. A channel PostgreSQL refuses
/// (too long) is logged and skipped.
async fn listen_to(client: &Client, channel: &str) -> bool {
    if channel.len() > wire::MAX_CHANNEL_LEN {
        tracing::error!(
            channel,
            "channel name longer than PostgreSQL's 63 bytes: this namespace cannot reach other nodes"
        );
        return true;
    }
    match client.batch_execute(&listen_statement(channel)).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, channel, "LISTEN failed");
            !client.is_closed() && err.as_db_error().is_some() && !lost(&err)
        }
    }
}

/// Whether an error means the connection is gone (PostgreSQL's classes 08, connection
/// exception, and 57, operator intervention: `pg_terminate_backend`, shutdown).
pub(super) fn lost(err: &tokio_postgres::Error) -> bool {
    match err.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57")
        }
        None => true,
    }
}

/// The dispatch task: notifications in order, attachments read, each message handed to its
/// namespace.
async fn dispatch(
    pg_config: tokio_postgres::Config,
    config: PostgresAdapterConfig,
    registry: Arc<Registry>,
    mut incoming: mpsc::Receiver<Incoming>,
) {
    let mut reader = AttachmentReader {
        pg_config,
        client: None,
    };
    while let Some(Incoming { channel, payload }) = incoming.recv().await {
        let Some(nsp) = namespace_of(&config.channel_prefix, &channel) else {
            continue;
        };
        let Some(ns) = registry.get(nsp) else {
            continue;
        };
        let decoded = match wire::read_notice(&payload) {
            Ok(Notice::Message(decoded)) => decoded,
            Ok(Notice::Attachment { uid, id }) => {
                // This node's own message: no need to read it back.
                if uid.as_deref() == Some(ns.uid.as_str()) {
                    continue;
                }
                match reader.read(&config, id).await {
                    Some(decoded) => decoded,
                    None => continue,
                }
            }
            Err(err) => {
                tracing::warn!(channel, error = %err, "ignoring a malformed PostgreSQL notification");
                continue;
            }
        };
        ns.on_message(nsp, decoded);
    }
}

/// Reads attachments on a connection of its own, opened when first needed and again after it
/// was lost.
struct AttachmentReader {
    pg_config: tokio_postgres::Config,
    client: Option<Client>,
}

impl AttachmentReader {
    /// Attachment `id`, decoded; `None` (logged) when it cannot be had.
    async fn read(&mut self, config: &PostgresAdapterConfig, id: i64) -> Option<Decoded> {
        // One retry on a fresh connection when the connection was the problem.
        for attempt in 0..2 {
            let client = self.client().await?;
            let fetch =
                attachments::fetch(client, &config.table_name, id, config.max_attachment_size);
            let result = match tokio::time::timeout(config.requests_timeout, fetch).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(id, "reading an attachment timed out");
                    self.client = None;
                    continue;
                }
            };
            match result {
                Ok(payload) => return decode_attachment(id, &payload),
                Err(err) if err.connection_lost() && attempt == 0 => {
                    tracing::debug!(error = %err, "attachment connection lost; reconnecting");
                    self.client = None;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "ignoring a PostgreSQL attachment");
                    return None;
                }
            }
        }
        None
    }

    async fn client(&mut self) -> Option<&Client> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            match connect_with_timeout(&self.pg_config, Duration::from_secs(10)).await {
                Ok((client, connection)) => {
                    tokio::spawn(async move {
                        if let Err(err) = connection.await {
                            tracing::debug!(error = %err, "PostgreSQL attachment connection ended");
                        }
                    });
                    self.client = Some(client);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not connect to read an attachment");
                    return None;
                }
            }
        }
        self.client.as_ref()
    }
}

fn decode_attachment(id: i64, payload: &[u8]) -> Option<Decoded> {
    match codec::decode_message(payload) {
        Ok(decoded) if decoded.value.is_object() => Some(decoded),
        Ok(_) => {
            tracing::warn!(id, "ignoring an attachment that is not a map");
            None
        }
        Err(err) => {
            tracing::warn!(id, error = %err, "ignoring a malformed attachment");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let mut backoff = Backoff::new();
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..10 {
            backoff.next_delay();
        }
        let late = backoff.next_delay();
        assert!(late >= Duration::from_millis(2500) && late <= Duration::from_secs(5));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
