//! Operations on resources: transaction boundaries, envelope encryption, business rules.
//! Runs on blocking threads; knows neither HTTP nor SQL dialects.

pub mod access;
pub mod consumers;
pub mod containers;
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

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Policy refused the caller this operation on this target.
    #[error("not allowed by policy")]
    Forbidden,
    /// 404 with a bare message.
    #[error("{0}")]
    NotFound(&'static str),
    /// 400 with a bare message.
    #[error("{0}")]
    Bad(String),
    /// 409 with a bare message.
    #[error("{0}")]
    Conflict(&'static str),
    /// A known error reported as `{op} issue seen - {msg}.`
    #[error("{1}")]
    Issue(u16, String),
    /// Any status with a bare message built at run time (e.g. 404 `Secret provided for 'x'
    /// doesn't exist.`, 403 on consumer ownership).
    #[error("{1}")]
    Status(u16, String),
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
        ServiceError::Internal(e.to_string())
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

/// What the operations need: the store, the key manager and the key-generation queue.
pub struct Core {
    pub store: Store,
    pub keys: KeyManager,
    pub quotas: crate::config::QuotasSection,
    /// Asymmetric orders' key generation (bounded, fair between projects).
    pub keygen: keygen_queue::KeygenQueue,
    known_projects: RwLock<HashSet<String>>,
}

impl Core {
    pub fn new(store: Store, keys: KeyManager, quotas: crate::config::QuotasSection) -> Core {
        Core {
            store,
            keys,
            quotas,
            keygen: keygen_queue::KeygenQueue::new(&crate::config::OrdersSection::default()),
            known_projects: RwLock::new(HashSet::new()),
        }
    }

    /// With the `[orders]` settings of the key-generation queue.
    pub fn with_orders(mut self, cfg: &crate::config::OrdersSection) -> Core {
        self.keygen = keygen_queue::KeygenQueue::new(cfg);
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
