//! The PostgreSQL format and backend: Node's `@socket.io/postgres-emitter` 0.1 on one
//! connection that reconnects when it is lost.
//!
//! A message is the cluster message `{type, data, uid: "emitter", nsp}`, `NOTIFY`ed as JSON on
//! the namespace's channel `<prefix>#<nsp>`. With binary data, or from the payload threshold
//! on, its MessagePack goes to the attachments table and the `NOTIFY` carries the header
//! `{"uid":"emitter","type":<type>,"attachmentId":"<id>"}` (the adapter's own rule and
//! encoding: `adapter::postgres::wire`).
//!
//! Node's emitter writes no `nsp`, so Node's adapter 0.5, which routes by `nsp`, drops its
//! messages; this one writes it, so it reaches Node nodes as well as Rust ones. It also stores
//! an attachment and announces it in **one** statement (a data-modifying `WITH`), so the row and
//! its notification commit together, and operations sent on one connection keep their order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::format::{EMITTER_UID, Operation, Outgoing, cluster_body};
use super::{BackendFuture, Emitter, EmitterBackend, EmitterError, EmitterFormat};
use crate::adapter::cluster::message::ClusterMessage;
use crate::adapter::postgres::attachments::{create_table, insert_statement};
use crate::adapter::postgres::config::valid_table_name;
use crate::adapter::postgres::listener::connect_with_timeout;
use crate::adapter::postgres::wire;
use crate::adapter::postgres::{PostgresAdapterConfig, PostgresAdapterError};
use crate::core::sync::lock;

/// How long connecting may take before an operation fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long PostgreSQL may take to take a message before the operation fails (and the
/// connection is dropped: the next operation connects again).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What carries `operation` for namespace `nsp` to servers with this channel prefix.
pub(super) fn encode(prefix: &str, threshold: usize, nsp: &str, operation: Operation) -> Outgoing {
    let (body, attachments) = cluster_body(nsp, operation);
    let message = ClusterMessage {
        uid: EMITTER_UID.to_owned(),
        nsp: nsp.to_owned(),
        body,
    };
    let channel = wire::channel(prefix, nsp);
    match wire::Outgoing::of(channel, &message, &attachments, threshold) {
        wire::Outgoing::Notify { channel, payload } => Outgoing::Publish {
            channel,
            payload: Bytes::from(payload),
        },
        wire::Outgoing::Attachment {
            channel,
            kind,
            payload,
            ..
        } => Outgoing::Attach {
            channel,
            kind,
            payload: Bytes::from(payload),
        },
    }
}

/// The attachment header up to its id, which PostgreSQL appends (with the closing `"}`):
/// `{"uid":"emitter","type":<kind>,"attachmentId":"`.
fn header_start(kind: u8) -> String {
    format!(r#"{{"uid":"{EMITTER_UID}","type":{kind},"attachmentId":""#)
}

/// Inserts an attachment and notifies its header in one statement: `$1` the payload, `$2` the
/// channel, `$3` the header up to the id.
fn attach_statement(table: &str) -> String {
    format!(
        "WITH stored AS ({}) SELECT pg_notify($2, $3 || id::text || '\"}}') FROM stored",
        insert_statement(table)
    )
}

/// A connection with its statements prepared.
struct Session {
    client: Client,
    notify: Statement,
    attach: Statement,
}

/// The session in use, or the attempt to make one; every operation awaits the same attempt,
/// so a lost connection is made again once, not once per operation.
type Connecting = Shared<BoxFuture<'static, Result<Arc<Session>, String>>>;

struct PostgresBackend {
    pg_config: tokio_postgres::Config,
    table: Arc<str>,
    create_table: bool,
    session: Mutex<Connecting>,
}

impl Session {
    /// Creates the attachments table first if asked (its statement needs it), then prepares.
    async fn start(
        client: Client,
        table: &str,
        create: bool,
    ) -> Result<Session, PostgresAdapterError> {
        if create {
            create_table(&client, table)
                .await
                .map_err(PostgresAdapterError::CreateTable)?;
        }
        let prepare = async {
            let notify = client.prepare("SELECT pg_notify($1, $2)").await?;
            let attach = client.prepare(&attach_statement(table)).await?;
            Ok((notify, attach))
        };
        let (notify, attach) = prepare.await.map_err(PostgresAdapterError::Prepare)?;
        Ok(Session {
            client,
            notify,
            attach,
        })
    }
}

/// Drives a connection until it ends.
fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "PostgreSQL emitter connection ended");
        }
    });
}

/// Connects again after a loss, bounded in time.
async fn reopen(
    pg_config: tokio_postgres::Config,
    table: Arc<str>,
    create: bool,
) -> Result<Arc<Session>, String> {
    let (client, connection) = connect_with_timeout(&pg_config, CONNECT_TIMEOUT).await?;
    spawn_connection(connection);
    match tokio::time::timeout(RESPONSE_TIMEOUT, Session::start(client, &table, create)).await {
        Ok(Ok(session)) => Ok(Arc::new(session)),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "PostgreSQL did not answer within {RESPONSE_TIMEOUT:?}"
        )),
    }
}

impl PostgresBackend {
    fn connecting(&self) -> Connecting {
        reopen(
            self.pg_config.clone(),
            self.table.clone(),
            self.create_table,
        )
        .boxed()
        .shared()
    }

    /// The session to send on: the current one, or a new one when it failed or ended.
    async fn session(&self) -> Result<(Connecting, Arc<Session>), EmitterError> {
        let current = lock(&self.session).clone();
        if let Ok(session) = current.clone().await
            && !session.client.is_closed()
        {
            return Ok((current, session));
        }
        let next = {
            let mut state = lock(&self.session);
            // Another operation may have started the new attempt already: join it.
            if state.ptr_eq(&current) {
                *state = self.connecting();
            }
            state.clone()
        };
        let session = next.clone().await.map_err(EmitterError::backend)?;
        Ok((next, session))
    }

    /// Forgets `used` (it timed out): the next operation connects again.
    fn drop_session(&self, used: &Connecting) {
        let mut state = lock(&self.session);
        if state.ptr_eq(used) {
            *state = self.connecting();
        }
    }

    /// Runs `query` with `params` on the session, bounded in time.
    async fn run(
        &self,
        query: impl Fn(&Session) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), EmitterError> {
        let (used, session) = self.session().await?;
        match tokio::time::timeout(
            RESPONSE_TIMEOUT,
            session.client.query(query(&session), params),
        )
        .await
        {
            Ok(result) => result.map(drop).map_err(EmitterError::backend),
            Err(_) => {
                self.drop_session(&used);
                Err(EmitterError::backend(format!(
                    "PostgreSQL did not answer within {RESPONSE_TIMEOUT:?}"
                )))
            }
        }
    }
}

impl EmitterBackend for PostgresBackend {
    fn publish(&self, channel: String, payload: Bytes) -> BackendFuture<'_> {
        Box::pin(async move {
            let payload = std::str::from_utf8(&payload).map_err(EmitterError::backend)?;
            self.run(|s| &s.notify, &[&channel, &payload]).await
        })
    }

    fn publish_attachment(&self, channel: String, kind: u8, payload: Bytes) -> BackendFuture<'_> {
        Box::pin(async move {
            let payload: &[u8] = &payload;
            let header = header_start(kind);
            self.run(|s| &s.attach, &[&payload, &channel, &header])
                .await
        })
    }
}

impl Emitter {
    /// Connects to PostgreSQL and returns an emitter that writes what servers with this
    /// adapter configuration read (Node's `@socket.io/postgres-emitter`): give it the servers'
    /// [`PostgresAdapterConfig`] (its connection string, `channel_prefix`, `table_name` and
    /// `payload_threshold` count; with `create_table` on, the default, the attachments table is
    /// created if missing). It reaches the clients of Rust and Node nodes. Must run inside a
    /// Tokio runtime.
    ///
    /// One connection carries every operation, one statement each, so operations awaited in
    /// turn reach every node in that order. When the connection is lost, the operation fails
    /// with [`EmitterError::Backend`] and the next one connects again; an operation that
    /// PostgreSQL does not answer within 5 s fails too.
    ///
    /// ```no_run
    /// use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// use tower_socketio::emitter::Emitter;
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1 user=postgres dbname=app");
    /// let emitter = Emitter::postgres(config).await?;
    /// emitter.to("room1").emit("hello", &()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn postgres(config: PostgresAdapterConfig) -> Result<Emitter, PostgresAdapterError> {
        let pg_config: tokio_postgres::Config = config
            .connection
            .parse()
            .map_err(PostgresAdapterError::InvalidConnection)?;
        if !valid_table_name(&config.table_name) {
            return Err(PostgresAdapterError::InvalidTableName(config.table_name));
        }
        let (client, connection) = pg_config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(PostgresAdapterError::Connect)?;
        spawn_connection(connection);
        let session = Session::start(client, &config.table_name, config.create_table).await?;
        let ready: Result<Arc<Session>, String> = Ok(Arc::new(session));
        let backend = PostgresBackend {
            pg_config,
            table: Arc::from(config.table_name.as_str()),
            create_table: config.create_table,
            session: Mutex::new(futures_util::future::ready(ready).boxed().shared()),
        };
        let format = EmitterFormat::postgres(&config);
        Ok(Emitter::new(backend, format))
    }
}

impl EmitterFormat {
    /// The format servers with this PostgreSQL adapter configuration read (its channel prefix
    /// and payload threshold).
    ///
    /// ```
    /// use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    /// use tower_socketio::emitter::EmitterFormat;
    ///
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1").channel_prefix("chat");
    /// assert_eq!(
    ///     EmitterFormat::postgres(&config),
    ///     EmitterFormat::Postgres { channel_prefix: "chat".into(), payload_threshold: 8000 }
    /// );
    /// ```
    pub fn postgres(config: &PostgresAdapterConfig) -> EmitterFormat {
        EmitterFormat::Postgres {
            channel_prefix: config.channel_prefix.clone(),
            payload_threshold: config.payload_threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::cluster::codec;
    use crate::adapter::cluster::message::Body;
    use crate::adapter::cluster::{WireFlags, WireOpts};
    use serde_json::{Value, json};

    fn opts(rooms: &[&str]) -> WireOpts {
        WireOpts {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: Vec::new(),
            flags: WireFlags::default(),
        }
    }

    fn broadcast(data: Vec<Value>, attachments: Vec<Bytes>) -> Operation {
        Operation::Broadcast {
            data,
            attachments,
            opts: opts(&["r"]),
        }
    }

    #[test]
    fn a_small_message_is_notified_as_json_with_its_namespace() {
        let out = encode(
            "socket.io",
            8000,
            "/chat",
            broadcast(vec![json!("hi")], vec![]),
        );
        let Outgoing::Publish { channel, payload } = out else {
            panic!("{out:?}")
        };
        assert_eq!(channel, "socket.io#/chat");
        // Node's postgres-emitter's envelope, plus `nsp`, which Node's adapter routes by.
        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            r#"{"type":3,"data":{"packet":{"type":2,"data":["hi"],"nsp":"/chat"},"opts":{"rooms":["r"],"except":[],"flags":{}}},"uid":"emitter","nsp":"/chat"}"#
        );
        let join = Operation::Join {
            opts: opts(&[]),
            rooms: vec!["x".into()],
        };
        let Outgoing::Publish { payload, .. } = encode("p", 8000, "/", join) else {
            panic!("a join is small")
        };
        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            r#"{"type":4,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["x"]},"uid":"emitter","nsp":"/"}"#
        );
    }

    /// The JSON of a broadcast of one string of `n` bytes.
    fn json_len(n: usize) -> usize {
        match encode(
            "p",
            usize::MAX,
            "/",
            broadcast(vec![json!("x".repeat(n))], vec![]),
        ) {
            Outgoing::Publish { payload, .. } => payload.len(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_the_threshold_on_a_message_goes_through_the_table() {
        let n = 8000 - json_len(0);
        let at = |n: usize| {
            encode(
                "p",
                8000,
                "/",
                broadcast(vec![json!("x".repeat(n))], vec![]),
            )
        };
        assert_eq!(json_len(n), 8000);
        assert!(matches!(at(n - 1), Outgoing::Publish { .. }));
        let Outgoing::Attach {
            kind,
            payload,
            channel,
        } = at(n)
        else {
            panic!("8 000 bytes of JSON: PostgreSQL would refuse the NOTIFY")
        };
        assert_eq!((kind, channel.as_str()), (3, "p#/"));
        let decoded = codec::decode_msgpack(&payload).unwrap();
        let message = ClusterMessage::from_value(decoded.value).unwrap();
        assert_eq!(
            (message.uid.as_str(), message.nsp.as_str()),
            ("emitter", "/")
        );
    }

    #[test]
    fn binary_data_goes_through_the_table_as_messagepack() {
        let op = broadcast(
            vec![json!("file"), crate::parser::placeholder(0)],
            vec![Bytes::from_static(b"\x00\xff")],
        );
        let Outgoing::Attach { kind, payload, .. } = encode("socket.io", 8000, "/", op) else {
            panic!("binary data goes through the table")
        };
        assert_eq!(kind, 3);
        let decoded = codec::decode_msgpack(&payload).unwrap();
        assert_eq!(decoded.attachments, vec![Bytes::from_static(b"\x00\xff")]);
        let message = ClusterMessage::from_value(decoded.value).unwrap();
        let Body::Broadcast { packet, .. } = message.body else {
            panic!("{message:?}")
        };
        assert_eq!(packet.data[1], crate::parser::placeholder(0));
    }

    #[test]
    fn the_attachment_header_is_the_adapter_s() {
        // What PostgreSQL completes with the row's id is what the adapter (and Node) write.
        let header = format!("{}{}{}", header_start(9), 42, "\"}");
        assert_eq!(header, wire::Outgoing::attachment_header("emitter", 9, 42));
        assert_eq!(
            attach_statement("t"),
            "WITH stored AS (INSERT INTO t (payload) VALUES ($1) RETURNING id) \
             SELECT pg_notify($2, $3 || id::text || '\"}') FROM stored"
        );
    }
}
