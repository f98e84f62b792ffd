//! Operations on resources: transaction boundaries, envelope encryption, business rules.
//! Runs on blocking threads; knows neither HTTP nor SQL dialects.

pub mod access;
pub mod acls;
pub mod consumers;
pub mod containers;
pub mod health;
pub mod keys;
pub mod keygen_queue;
pub mod orders;
pub mod quotas;
pub mod secrets;
pub mod stores;
pub mod transport_keys;

use std::collections::HashSet;

use parking_lot::RwLock;

use crate::kek::{KekError, KeyManager};
use crate::store::{projects, DbConn, Store, StoreError};

/// What a service operation could not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Secret,
    /// The secret exists but has no payload yet.
    Payload,
    Metadatum,
    Container,
    /// A secret named in a container request that is not in the caller's project.
    LinkedSecret,
    /// A secret that is not linked to the container.
    ContainerLink,
    Consumer,
    Order,
    TransportKey,
    SecretStore,
    PreferredStore,
    ProjectQuotas,
    Key,
    /// A ciphertext, signature or request names a version the key does not have.
    KeyVersion,
}

/// What went wrong, in the service's words; `api::error` alone turns it into a status and
/// Barbican's body.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Policy refused the caller this operation on this target.
    #[error("not allowed by policy")]
    Forbidden,
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// A container refers, under `name`, to a secret that is not in the project.
    #[error("secret for {0:?} does not exist")]
    SecretRefMissing(Option<String>),
    /// A container-secret removal names a secret (`name`, `secret_ref`) that does not exist.
    #[error("secret {name:?} ({secret_ref}) does not exist")]
    SecretRefGone { name: Option<String>, secret_ref: String },
    #[error("a quota has been reached")]
    QuotaReached,
    #[error("the secret has consumers")]
    HasConsumers,
    #[error("the secret already has a payload")]
    PayloadAlreadySet,
    #[error("the metadata key already exists")]
    MetadatumExists,
    #[error("the body's metadata key is not the URL's")]
    MetadatumKeyMismatch,
    #[error("only the consumer's creator may delete it")]
    ConsumerNotOwned,
    #[error("the container already links that secret under that name")]
    DuplicateLink,
    /// Secrets are added only to generic containers.
    #[error("the container is not generic")]
    ContainerNotGeneric,
    /// Orders cannot be updated (`PUT /v1/orders`, once policy allowed it).
    #[error("order update is not supported")]
    OrderUpdateUnsupported,
    /// The order was no longer PENDING when its processing came to finish it.
    #[error("order already processed")]
    OrderFinished,
    #[error("the key-generation queue is full")]
    QueueFull,
    /// Secret stores are off (`enable_multiple_secret_stores = false`).
    #[error("multiple secret stores are not enabled")]
    StoresDisabled,
    /// A managed-key operation failed (unsupported for the type, bad input, decryption failed).
    #[error("{0}")]
    KeyOp(#[from] crate::crypto::managed::OpError),
    /// Policy allowed the caller, but the key's sensitivity or `exportable` forbids export.
    #[error("the key is not exportable")]
    NotExportable,
    /// A managed key is deleted only once its `deletion_allowed` is set.
    #[error("deletion is not allowed for this key")]
    DeletionNotAllowed,
    /// Input the service found invalid (400), with Barbican's message.
    #[error("{0}")]
    Invalid(String),
    /// Anything unexpected; the detail is logged, never returned.
    #[error("{0}")]
    Internal(String),
    /// The database cannot be reached or stays locked: worth retrying later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return ServiceError::Unavailable(e.to_string());
        }
        ServiceError::Internal(e.to_string())
    }
}

impl From<KekError> for ServiceError {
    fn from(e: KekError) -> Self {
        match e {
            // The project-KEK look-up met a database that is down: 503, not 500.
            KekError::Store(e) => ServiceError::from(e),
            e => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        if crate::store::unavailable(&e) {
            return ServiceError::Unavailable(format!("database error: {e}"));
        }
        ServiceError::Internal(format!("database error: {e}"))
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

fn orders_leases(cfg: &crate::config::OrdersSection) -> orders::Leases {
    orders::Leases::new(std::time::Duration::from_secs(cfg.lease_seconds), cfg.queue_size)
}

/// What the operations need: the store, the key manager and the key-generation queue.
pub struct Core {
    pub store: Store,
    pub keys: KeyManager,
    pub quotas: crate::config::QuotasSection,
    /// Asymmetric orders' key generation (bounded, fair between projects).
    pub keygen: keygen_queue::KeygenQueue,
    /// This replica's leases on PENDING orders (`[orders] lease_seconds`).
    pub leases: orders::Leases,
    /// The last readiness check of the master-KEK provider.
    pub kek_check: health::KekCheckCache,
    /// `[secretstore] enable_multiple_secret_stores`: without it the secret-stores API is off.
    pub stores_enabled: bool,
    known_projects: RwLock<HashSet<String>>,
}

impl Core {
    pub fn new(store: Store, keys: KeyManager, quotas: crate::config::QuotasSection) -> Core {
        Core {
            store,
            keys,
            quotas,
            keygen: keygen_queue::KeygenQueue::new(&crate::config::OrdersSection::default()),
            leases: orders_leases(&crate::config::OrdersSection::default()),
            kek_check: health::KekCheckCache::default(),
            stores_enabled: false,
            known_projects: RwLock::new(HashSet::new()),
        }
    }

    /// The state `/metrics` samples at scrape time (no connection is taken).
    pub fn gauges(&self) -> crate::telemetry::metrics::Gauges {
        let pool = self.store.pool.state();
        crate::telemetry::metrics::Gauges {
            pool_in_use: pool.connections.saturating_sub(pool.idle_connections),
            pool_idle: pool.idle_connections,
            pool_max: self.store.pool.max_size(),
            order_queue_depth: self.keygen.depth(),
            master_kek_version: self.keys.master_version(),
        }
    }

    /// With the `[orders]` settings of the key-generation queue.
    pub fn with_orders(mut self, cfg: &crate::config::OrdersSection) -> Core {
        self.keygen = keygen_queue::KeygenQueue::new(cfg);
        self.leases = orders_leases(cfg);
        self
    }

    /// With the `[secretstore]` switch of the secret-stores API.
    pub fn with_secret_stores(mut self, cfg: &crate::config::SecretStoreSection) -> Core {
        self.stores_enabled = cfg.enable_multiple_secret_stores;
        self
    }

    pub fn conn(&self) -> ServiceResult<crate::store::PooledConn> {
        Ok(self.store.conn()?)
    }

    /// Barbican creates a project row the first time an external project id writes.
    pub fn ensure_project(&self, conn: &mut DbConn, project: &str) -> ServiceResult<()> {
        if self.known_projects.read().contains(project) {
            return Ok(());
        }
        projects::ensure(conn, project)?;
        let mut known = self.known_projects.write();
        if known.len() > 100_000 {
            known.clear();
        }
        known.insert(project.to_string());
        Ok(())
    }
}
