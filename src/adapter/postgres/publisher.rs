//! The one publishing connection: every message of this server, in the order it was queued,
//! one statement after the other.
//!
//! Each `pg_notify` runs in its own implicit transaction and is committed before the next is
//! sent, and PostgreSQL delivers notifications in commit order, so every node hears this node's
//! messages in the order they were emitted (Node's adapter, which publishes through a pool,
//! does not keep it). When the connection is lost, the task reconnects (with a growing delay)
//! and sends the same message again, for up to [`RETRY_FOR`]; the messages behind it wait, so
//! none overtakes it. A message PostgreSQL refuses (for instance a missing attachments table)
//! is logged and dropped. The same task deletes old attachments once per cleanup interval.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::attachments;
use super::config::PostgresAdapterConfig;
use super::listener::{Backoff, connect_with_timeout, lost};
use super::wire::Outgoing;

/// How long a message is retried while PostgreSQL is unreachable before it is dropped.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// A connection with its statements prepared.
struct Session {
    client: Client,
    notify: Statement,
    /// Not prepared: attachments are rare, and a missing table must not stop notifications.
    insert: String,
}

impl Session {
    async fn prepare(client: Client, table: &str) -> Result<Session, tokio_postgres::Error> {
        let notify = client.prepare("SELECT pg_notify($1, $2)").await?;
        let insert = attachments::insert_statement(table);
        Ok(Session {
            client,
            notify,
            insert,
        })
    }

    async fn send(&self, message: &Outgoing) -> Result<(), tokio_postgres::Error> {
        match message {
            Outgoing::Notify { channel, payload } => self.notify(channel, payload).await,
            Outgoing::Attachment {
                channel,
                uid,
                kind,
                payload,
            } => {
                let params: [&(dyn ToSql + Sync); 1] = [payload];
                let row = self.client.query_one(self.insert.as_str(), &params).await?;
                let id: i64 = row.try_get(0)?;
                let header = Outgoing::attachment_header(uid, *kind, id);
                self.notify(channel, &header).await
            }
        }
    }

    async fn notify(&self, channel: &str, payload: &str) -> Result<(), tokio_postgres::Error> {
        let params: [&(dyn ToSql + Sync); 2] = [&channel, &payload];
        self.client.execute(&self.notify, &params).await.map(drop)
    }
}

/// Starts the publishing task on `client` (already connected).
pub(super) fn spawn(
    pg_config: tokio_postgres::Config,
    config: PostgresAdapterConfig,
    client: Client,
    queue: mpsc::Receiver<Outgoing>,
) {
    let publisher = Publisher {
        pg_config,
        config,
        session: None,
        backoff: Backoff::new(),
        metrics: crate::metrics::AdapterMetrics::new("postgres"),
    };
    tokio::spawn(publisher.run(client, queue));
}

struct Publisher {
    pg_config: tokio_postgres::Config,
    config: PostgresAdapterConfig,
    session: Option<Session>,
    backoff: Backoff,
    metrics: crate::metrics::AdapterMetrics,
}

impl Publisher {
    async fn run(mut self, client: Client, mut queue: mpsc::Receiver<Outgoing>) {
        match Session::prepare(client, &self.config.table_name).await {
            Ok(session) => self.session = Some(session),
            Err(err) => tracing::warn!(error = %err, "preparing the publishing statements failed"),
        }
        let mut cleanup = tokio::time::interval(self.config.cleanup_interval);
        cleanup.reset();
        loop {
            tokio::select! {
                message = queue.recv() => match message {
                    Some(message) => self.send(&message).await,
                    None => return,
                },
                _ = cleanup.tick() => self.cleanup().await,
            }
        }
    }

    /// Sends one message, reconnecting and retrying while the connection is the problem.
    async fn send(&mut self, message: &Outgoing) {
        let give_up = Instant::now() + RETRY_FOR;
        let stopwatch = crate::metrics::Stopwatch::start();
        loop {
            if self.session.is_none() {
                self.session = self.reconnect().await;
            }
            if let Some(session) = &self.session {
                let limit = self.config.requests_timeout.max(Duration::from_secs(5));
                match tokio::time::timeout(limit, session.send(message)).await {
                    Ok(Ok(())) => {
                        self.backoff.reset();
                        self.metrics.published(stopwatch);
                        return;
                    }
                    Ok(Err(err)) if !session.client.is_closed() && !lost(&err) => {
                        self.metrics.dropped(1);
                        return tracing::warn!(error = %err, "PostgreSQL refused a message to other nodes; dropped");
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "PostgreSQL publishing connection lost; reconnecting");
                        self.session = None;
                    }
                    Err(_) => {
                        tracing::warn!("PostgreSQL did not answer a publish in time; reconnecting");
                        self.session = None;
                    }
                }
            }
            if Instant::now() >= give_up {
                self.metrics.dropped(1);
                return tracing::warn!(
                    "PostgreSQL unreachable for {RETRY_FOR:?}: a message to other nodes is dropped"
                );
            }
            tokio::time::sleep(self.backoff.next_delay()).await;
        }
    }

    async fn reconnect(&mut self) -> Option<Session> {
        let (client, connection) = match connect_with_timeout(
            &self.pg_config,
            Duration::from_secs(10),
        )
        .await
        {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "could not reconnect the PostgreSQL publishing connection");
                return None;
            }
        };
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "PostgreSQL publishing connection ended");
            }
        });
        match Session::prepare(client, &self.config.table_name).await {
            Ok(session) => Some(session),
            Err(err) => {
                tracing::warn!(error = %err, "preparing the publishing statements failed");
                None
            }
        }
    }

    /// Deletes old attachments (errors are logged: the next round tries again).
    async fn cleanup(&mut self) {
        let Some(session) = &self.session else { return };
        let statement =
            attachments::cleanup_statement(&self.config.table_name, self.config.cleanup_interval);
        if let Err(err) = session.client.batch_execute(&statement).await {
            tracing::debug!(error = %err, "deleting old attachments failed");
        }
    }
}
