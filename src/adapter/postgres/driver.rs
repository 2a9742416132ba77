//! What one server shares among its namespaces: the configuration, the namespaces by name, the
//! queue to the publishing connection and the commands to the listening one. Its tasks end once
//! it is dropped (with the builder and every namespace's adapter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;
use tokio_postgres::NoTls;

use super::adapter::NsShared;
use super::config::{PostgresAdapterConfig, PostgresAdapterError, valid_table_name};
use super::listener::{self, ListenCommand};
use super::wire::Outgoing;
use super::{attachments, heartbeat, publisher};
use crate::core::error::AdapterError;
use crate::core::sync::lock;

/// The namespaces of one server, by name; each entry is the adapter's id and its state.
#[derive(Default)]
pub(crate) struct Registry {
    namespaces: Mutex<HashMap<String, (u64, Weak<NsShared>)>>,
}

impl Registry {
    /// The adapter of namespace `nsp`, if it is still there.
    pub(super) fn get(&self, nsp: &str) -> Option<Arc<NsShared>> {
        lock(&self.namespaces).get(nsp)?.1.upgrade()
    }

    /// Every adapter still there.
    pub(super) fn all(&self) -> Vec<Arc<NsShared>> {
        lock(&self.namespaces)
            .values()
            .filter_map(|(_, ns)| ns.upgrade())
            .collect()
    }

    fn insert(&self, ns: &Arc<NsShared>) {
        lock(&self.namespaces).insert(ns.nsp.clone(), (ns.id, Arc::downgrade(ns)));
    }

    /// Removes adapter `id` of `nsp` (not a newer adapter of the same namespace); whether it was
    /// there.
    fn remove(&self, nsp: &str, id: u64) -> bool {
        let mut namespaces = lock(&self.namespaces);
        if namespaces
            .get(nsp)
            .is_some_and(|(current, _)| *current == id)
        {
            namespaces.remove(nsp);
            return true;
        }
        false
    }
}

/// The PostgreSQL side of the adapter of every namespace of one server.
pub(crate) struct Driver {
    pub(super) config: PostgresAdapterConfig,
    pub(super) registry: Arc<Registry>,
    outgoing: mpsc::Sender<Outgoing>,
    listener: mpsc::UnboundedSender<ListenCommand>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("channel_prefix", &self.config.channel_prefix)
            .field("table_name", &self.config.table_name)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Checks the configuration, connects the publishing connection (creating the attachments
    /// table if asked) and starts the tasks.
    pub(super) async fn connect(
        config: PostgresAdapterConfig,
    ) -> Result<Arc<Driver>, PostgresAdapterError> {
        let pg_config: tokio_postgres::Config = config
            .connection
            .parse()
            .map_err(PostgresAdapterError::InvalidConnection)?;
        if !valid_table_name(&config.table_name) {
            return Err(PostgresAdapterError::InvalidTableName(
                config.table_name.clone(),
            ));
        }
        let (client, connection) = pg_config
            .connect(NoTls)
            .await
            .map_err(PostgresAdapterError::Connect)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(error = %err, "PostgreSQL publishing connection ended");
            }
        });
        if config.create_table {
            attachments::create_table(&client, &config.table_name)
                .await
                .map_err(PostgresAdapterError::CreateTable)?;
        }
        let registry = Arc::new(Registry::default());
        let (outgoing, outgoing_rx) = mpsc::channel(config.queue_capacity);
        let (listener_tx, listener_rx) = mpsc::unbounded_channel();
        publisher::spawn(pg_config.clone(), config.clone(), client, outgoing_rx);
        listener::spawn(pg_config, config.clone(), registry.clone(), listener_rx);
        let driver = Arc::new(Driver {
            config,
            registry,
            outgoing,
            listener: listener_tx,
        });
        heartbeat::spawn(Arc::downgrade(&driver));
        Ok(driver)
    }

    /// Queues a message for the publishing connection, in order with the others.
    pub(super) fn publish(&self, message: Outgoing) -> Result<(), AdapterError> {
        self.outgoing.try_send(message).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                tracing::warn!("PostgreSQL publish queue full: a message to other nodes is lost");
                AdapterError::QueueFull
            }
            mpsc::error::TrySendError::Closed(_) => AdapterError::Closed,
        })
    }

    /// Starts routing notifications to a namespace and listens to its channel.
    pub(super) fn register(&self, ns: &Arc<NsShared>) {
        self.registry.insert(ns);
        let _ = self
            .listener
            .send(ListenCommand::Listen(ns.channel.clone()));
    }

    /// Stops routing to adapter `id` of namespace `nsp` and stops listening to its channel.
    pub(super) fn unregister(&self, nsp: &str, id: u64, channel: &str) {
        if self.registry.remove(nsp, id) {
            let _ = self
                .listener
                .send(ListenCommand::Unlisten(channel.to_owned()));
        }
    }
}
