//! Master KEK providers and the project-KEK key manager.
//!
//! The master KEK (one or more versions) is unsealed once at start by its provider. Project KEKs
//! are random 256-bit keys, stored wrapped under the master KEK with AES-256-GCM; unwrapped ones
//! are cached as expanded ciphers, zeroized when evicted.

pub mod file;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::crypto::{self, Cipher, CryptoError, Key};
use crate::store::{keks, DbConn, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("{0}")]
    Provider(String),
    #[error("master KEK version {0} is not available to this server")]
    MissingMaster(i32),
    #[error("project KEK {0} cannot be unwrapped: {1}")]
    Unwrap(String, CryptoError),
    #[error("project KEK {0} not found")]
    MissingKek(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The unsealed master KEK versions; `current` wraps new project KEKs.
pub struct MasterKeys {
    pub current: i32,
    pub versions: HashMap<i32, Key>,
}

/// A source of the master KEK: a sealed TPM object, or (development only) a file.
pub trait MasterKekProvider: Send + Sync {
    fn name(&self) -> &'static str;
    /// True when this provider keeps the master KEK in plaintext on this host.
    fn plaintext_at_rest(&self) -> bool;
    fn load(&self) -> Result<MasterKeys, KekError>;
}

pub struct KeyManager {
    current: i32,
    masters: HashMap<i32, Cipher>,
    provider_name: &'static str,
    plaintext_at_rest: bool,
    /// kek id -> (project id, cipher)
    keks: RwLock<HashMap<String, (Arc<str>, Arc<Cipher>)>>,
    /// project id -> active kek id
    active: RwLock<HashMap<String, String>>,
    cap: usize,
}

impl KeyManager {
    pub fn new(provider: &dyn MasterKekProvider, cache_size: usize) -> Result<KeyManager, KekError> {
        let keys = provider.load()?;
        if !keys.versions.contains_key(&keys.current) {
            return Err(KekError::MissingMaster(keys.current));
        }
        let masters = keys.versions.iter().map(|(v, k)| (*v, k.cipher())).collect();
        Ok(KeyManager {
            current: keys.current,
            masters,
            provider_name: provider.name(),
            plaintext_at_rest: provider.plaintext_at_rest(),
            keks: RwLock::new(HashMap::new()),
            active: RwLock::new(HashMap::new()),
            cap: cache_size.max(16),
        })
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider_name
    }

    pub fn plaintext_at_rest(&self) -> bool {
        self.plaintext_at_rest
    }

    pub fn master_version(&self) -> i32 {
        self.current
    }

    fn remember(&self, kek_id: &str, project_id: &str, cipher: Arc<Cipher>) {
        let mut map = self.keks.write();
        if map.len() >= self.cap {
            // Bounded: drop everything (the ciphers zeroize on drop); hot keys come back at once.
            map.clear();
        }
        map.insert(kek_id.to_string(), (Arc::from(project_id), cipher));
    }

    fn unwrap_row(&self, row: &keks::KekRow) -> Result<Arc<Cipher>, KekError> {
        let master = self
            .masters
            .get(&row.master_version)
            .ok_or(KekError::MissingMaster(row.master_version))?;
        let aad = crypto::kek_aad(&row.project_id, &row.id, row.master_version);
        let mut raw = master
            .open(&row.wrapped_key, &aad)
            .map_err(|e| KekError::Unwrap(row.id.clone(), e))?;
        let key = Key::from_slice(&mut raw[..])
            .ok_or(KekError::Unwrap(row.id.clone(), CryptoError::Truncated))?;
        Ok(Arc::new(key.cipher()))
    }

    /// The project's active KEK, created on the project's first use.
    pub fn active_kek(
        &self,
        conn: &mut DbConn,
        project_id: &str,
    ) -> Result<(String, Arc<Cipher>), KekError> {
        if let Some(kek_id) = self.active.read().get(project_id).cloned() {
            if let Some((_, c)) = self.keks.read().get(&kek_id) {
                return Ok((kek_id, c.clone()));
            }
        }
        let row = match keks::active_for_project(conn, project_id)? {
            Some(row) => row,
            None => {
                let kek_id = uuid::Uuid::new_v4().to_string();
                let key = Key::generate();
                let master = &self.masters[&self.current];
                let wrapped =
                    master.seal(key.expose(), &crypto::kek_aad(project_id, &kek_id, self.current))?;
                keks::insert(conn, &kek_id, project_id, self.current, &wrapped)?;
                // Re-read: if two servers raced, both settle on the same (oldest) active KEK.
                keks::active_for_project(conn, project_id)?
                    .ok_or_else(|| KekError::MissingKek(kek_id.clone()))?
            }
        };
        let cipher = self.unwrap_row(&row)?;
        self.remember(&row.id, project_id, cipher.clone());
        {
            let mut act = self.active.write();
            if act.len() >= self.cap {
                act.clear();
            }
            act.insert(project_id.to_string(), row.id.clone());
        }
        Ok((row.id, cipher))
    }

    /// A project KEK by id, checked to belong to the project.
    pub fn kek(
        &self,
        conn: &mut DbConn,
        project_id: &str,
        kek_id: &str,
    ) -> Result<Arc<Cipher>, KekError> {
        if let Some((p, c)) = self.keks.read().get(kek_id) {
            if &**p == project_id {
                return Ok(c.clone());
            }
            return Err(KekError::MissingKek(kek_id.to_string()));
        }
        let row = keks::get(conn, kek_id)?.ok_or_else(|| KekError::MissingKek(kek_id.to_string()))?;
        if row.project_id != project_id {
            return Err(KekError::MissingKek(kek_id.to_string()));
        }
        let cipher = self.unwrap_row(&row)?;
        self.remember(&row.id, project_id, cipher.clone());
        Ok(cipher)
    }
}
