//! The attachments table: where messages too large for a NOTIFY, or with binary data, are kept
//! for the other nodes to read (Node's schema and statements).

use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// `CREATE TABLE IF NOT EXISTS`, Node's schema (its README's; the Node adapter never creates
/// it).
pub(super) fn create_statement(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)"
    )
}

/// Creates the table unless it exists. Nodes that start together race: PostgreSQL's
/// `IF NOT EXISTS` is not atomic, and the loser gets a unique violation (on the table's type),
/// `duplicate_table` or `duplicate_object` ("type ... already exists"), which all mean that the
/// table is there.
pub(crate) async fn create_table(
    client: &Client,
    table: &str,
) -> Result<(), tokio_postgres::Error> {
    match client.batch_execute(&create_statement(table)).await {
        Err(err)
            if err.code() == Some(&SqlState::UNIQUE_VIOLATION)
                || err.code() == Some(&SqlState::DUPLICATE_TABLE)
                || err.code() == Some(&SqlState::DUPLICATE_OBJECT) =>
        {
            Ok(())
        }
        result => result,
    }
}

/// Inserts a message; its id.
pub(crate) fn insert_statement(table: &str) -> String {
    format!("INSERT INTO {table} (payload) VALUES ($1) RETURNING id")
}

/// Reads a message, unless it is larger than the limit (`$2`): no row then, as for a message
/// that is gone.
pub(super) fn select_statement(table: &str) -> String {
    format!("SELECT payload FROM {table} WHERE id = $1 AND octet_length(payload) <= $2")
}

/// Deletes the messages older than the cleanup interval, as every Node node does.
pub(super) fn cleanup_statement(table: &str, older_than: Duration) -> String {
    format!(
        "DELETE FROM {table} WHERE created_at < now() - interval '{} milliseconds'",
        older_than.as_millis()
    )
}

/// Why an attachment could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum FetchError {
    /// The query failed (connection lost, table missing...).
    #[error("reading attachment {id}: {source}")]
    Query {
        id: i64,
        #[source]
        source: tokio_postgres::Error,
    },
    /// No such row, or larger than the limit.
    #[error("attachment {0} is gone or larger than the limit")]
    Missing(i64),
}

impl FetchError {
    /// Whether the connection is the problem (so it is worth reconnecting and trying again).
    pub(super) fn connection_lost(&self) -> bool {
        matches!(self, FetchError::Query { source, .. } if source.is_closed() || source.as_db_error().is_none())
    }
}

/// Reads attachment `id`, at most `max` bytes.
pub(super) async fn fetch(
    client: &Client,
    table: &str,
    id: i64,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    let params: [&(dyn ToSql + Sync); 2] = [&id, &max];
    let row = client
        .query_opt(&select_statement(table), &params)
        .await
        .map_err(|source| FetchError::Query { id, source })?;
    let row = row.ok_or(FetchError::Missing(id))?;
    row.try_get::<_, Vec<u8>>(0)
        .map_err(|source| FetchError::Query { id, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_node_s() {
        assert_eq!(
            insert_statement("socket_io_attachments"),
            "INSERT INTO socket_io_attachments (payload) VALUES ($1) RETURNING id"
        );
        assert_eq!(
            cleanup_statement("t", Duration::from_secs(30)),
            "DELETE FROM t WHERE created_at < now() - interval '30000 milliseconds'"
        );
    }
}
