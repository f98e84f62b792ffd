//! Master KEK providers and the project-KEK key manager.
//!
//! The master KEK (one or more versions) is unsealed at start by its provider. Project KEKs are
//! random 256-bit keys, stored wrapped under a master KEK version with AES-256-GCM; unwrapped
//! ones are cached as expanded ciphers, zeroized when evicted.
//!
//! The key manager keeps its provider: when it meets a project-KEK row wrapped under a master
//! version it does not hold (another process ran `portcullis kek rotate`), it loads the
//! provider again and goes on serving.

pub mod admin;
pub mod check;
pub mod enroll;
pub mod file;
pub mod root_keys;
pub mod tpm;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::crypto::{self, Cipher, CryptoError, Key};
use crate::store::{keks, DbConn, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("{0}")]
    Provider(String),
    #[error("master KEK version {0} is not available to this server: it was made on another host \
             or already retired; enroll this host again (portcullis kek export / kek import)")]
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

impl From<diesel::result::Error> for KekError {
    fn from(e: diesel::result::Error) -> Self {
        KekError::Store(StoreError::Query(e))
    }
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
    /// Where the master KEK versions rest (for messages and `kek status`).
    fn describe(&self) -> String;
    /// Unseals every master KEK version present; the highest is current.
    fn load(&self) -> Result<MasterKeys, KekError>;
    /// The versions present at rest, ascending, without unsealing anything (cheap).
    fn versions(&self) -> Result<Vec<i32>, KekError>;
    /// Seals and stores a new version; refuses to overwrite an existing one.
    fn store(&self, version: i32, key: &Key) -> Result<(), KekError>;
    /// Removes a version for good.
    fn retire(&self, version: i32) -> Result<(), KekError>;
    /// A file whose exclusive lock serialises the administrative commands (init, rotate,
    /// import) that change the stored versions.
    fn lock_path(&self) -> std::path::PathBuf;
    /// The root of trust that makes and runs keys of sensitivity `high`, if this provider has
    /// one (the TPM does; the development file provider does not).
    fn root_keys(&self) -> Option<Arc<dyn root_keys::RootKeys>> {
        None
    }
}

struct Masters {
    current: i32,
    ciphers: HashMap<i32, Arc<Cipher>>,
}

pub struct KeyManager {
    provider: Arc<dyn MasterKekProvider>,
    masters: RwLock<Masters>,
    /// Serialises reloads; holds when the last reload failed to find a wanted version, so a
    /// stream of rows under an unknown version does not hammer the TPM.
    reload: Mutex<Option<Instant>>,
    provider_name: &'static str,
    plaintext_at_rest: bool,
    /// kek id -> (project id, cipher), at most `[kek] cache_size` (16 or more); a cipher
    /// evicted, replaced or removed is zeroized when its last user drops it.
    keks: quick_cache::sync::Cache<String, (Arc<str>, Arc<Cipher>)>,
}

const RELOAD_BACKOFF: Duration = Duration::from_secs(1);

/// Counts a project-KEK cache look-up.
#[inline]
fn kek_cache(hit: bool) {
    if let Some(m) = crate::telemetry::metrics::get() {
        if hit { m.kek_cache_hit.increment(1) } else { m.kek_cache_miss.increment(1) }
    }
}

impl KeyManager {
    pub fn new(
        provider: impl Into<Arc<dyn MasterKekProvider>>,
        cache_size: usize,
    ) -> Result<KeyManager, KekError> {
        let provider = provider.into();
        let keys = provider.load()?;
        if !keys.versions.contains_key(&keys.current) {
            return Err(KekError::MissingMaster(keys.current));
        }
        let ciphers = keys.versions.iter().map(|(v, k)| (*v, Arc::new(k.cipher()))).collect();
        Ok(KeyManager {
            provider_name: provider.name(),
            plaintext_at_rest: provider.plaintext_at_rest(),
            provider,
            masters: RwLock::new(Masters { current: keys.current, ciphers }),
            reload: Mutex::new(None),
            keks: crate::cache::bounded(cache_size.max(16)),
        })
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider_name
    }

    pub fn plaintext_at_rest(&self) -> bool {
        self.plaintext_at_rest
    }

    /// The root of trust for keys of sensitivity `high` (None: such keys are refused).
    pub fn root_keys(&self) -> Option<Arc<dyn root_keys::RootKeys>> {
        self.provider.root_keys()
    }

    /// Readiness: unseals the provider's master KEK versions again (the TPM answers, the sealed
    /// blobs are there) and checks the version in use is among them; the keys are dropped
    /// (zeroized) at once. Returns the version in use.
    pub fn check_provider(&self) -> Result<i32, KekError> {
        let _serial = self.reload.lock();
        let keys = self.provider.load()?;
        let current = self.master_version();
        if !keys.versions.contains_key(&current) {
            return Err(KekError::MissingMaster(current));
        }
        Ok(current)
    }

    /// The master version that wraps new project KEKs.
    pub fn master_version(&self) -> i32 {
        self.masters.read().current
    }

    /// Loads the provider again and merges what it holds (versions already in memory stay,
    /// so rows a slow writer wrapped under a just-retired version still open here).
    fn reload_for(&self, wanted: Option<i32>) -> Result<(), KekError> {
        let mut last_miss = self.reload.lock();
        if let Some(v) = wanted {
            if self.masters.read().ciphers.contains_key(&v) {
                return Ok(()); // another thread reloaded meanwhile
            }
            if last_miss.is_some_and(|t| t.elapsed() < RELOAD_BACKOFF) {
                return Err(KekError::MissingMaster(v));
            }
        }
        let keys = match self.provider.load() {
            Ok(k) => k,
            Err(e) => {
                *last_miss = Some(Instant::now());
                tracing::error!(error = %e, "cannot load the master KEK provider again");
                return Err(e);
            }
        };
        {
            let mut m = self.masters.write();
            for (v, k) in keys.versions.iter() {
                m.ciphers.entry(*v).or_insert_with(|| Arc::new(k.cipher()));
            }
            if keys.current > m.current && m.ciphers.contains_key(&keys.current) {
                tracing::info!(from = m.current, to = keys.current, "master KEK rotated: new project KEKs are wrapped under the new version");
                m.current = keys.current;
            }
        }
        match wanted {
            Some(v) if !self.masters.read().ciphers.contains_key(&v) => {
                *last_miss = Some(Instant::now());
                Err(KekError::MissingMaster(v))
            }
            _ => {
                *last_miss = None;
                Ok(())
            }
        }
    }

    fn master(&self, version: i32) -> Result<Arc<Cipher>, KekError> {
        if let Some(c) = self.masters.read().ciphers.get(&version) {
            return Ok(c.clone());
        }
        self.reload_for(Some(version))?;
        self.masters.read().ciphers.get(&version).cloned().ok_or(KekError::MissingMaster(version))
    }

    /// The current master version and cipher, after a cheap look at the provider for a newer
    /// version (a rotation started by another process).
    fn current_master(&self) -> Result<(i32, Arc<Cipher>), KekError> {
        let cur = self.master_version();
        if let Ok(vs) = self.provider.versions() {
            if vs.iter().any(|v| *v > cur) {
                if let Err(e) = self.reload_for(None) {
                    tracing::warn!(error = %e, "a newer master KEK version exists but does not load; wrapping under v{cur}");
                }
            }
        }
        let m = self.masters.read();
        Ok((m.current, m.ciphers[&m.current].clone()))
    }

    fn remember(&self, kek_id: &str, project_id: &str, cipher: Arc<Cipher>) {
        self.keks.insert(kek_id.to_string(), (Arc::from(project_id), cipher));
    }

    /// Unwraps a project-KEK row into its raw key.
    pub fn unwrap_key(&self, row: &keks::KekRow) -> Result<Key, KekError> {
        let master = self.master(row.master_version)?;
        let aad = crypto::kek_aad(&row.project_id, &row.id, row.master_version);
        let mut raw = master
            .open(&row.wrapped_key, &aad)
            .map_err(|e| KekError::Unwrap(row.id.clone(), e))?;
        Key::from_slice(&mut raw[..]).ok_or(KekError::Unwrap(row.id.clone(), CryptoError::Truncated))
    }

    fn unwrap_row(&self, row: &keks::KekRow) -> Result<Arc<Cipher>, KekError> {
        Ok(Arc::new(self.unwrap_key(row)?.cipher()))
    }

    /// Makes a new project KEK, wrapped under the current master version, and stores it
    /// (active, or inactive for the caller to activate). Returns its id and cipher.
    fn create_kek(
        &self,
        conn: &mut DbConn,
        project_id: &str,
        insert: impl FnOnce(&mut DbConn, &str, i32, &[u8]) -> Result<(), KekError>,
    ) -> Result<(String, Arc<Cipher>), KekError> {
        let kek_id = uuid::Uuid::new_v4().to_string();
        let key = Key::generate();
        let (version, master) = self.current_master()?;
        let wrapped = master.seal(key.expose(), &crypto::kek_aad(project_id, &kek_id, version))?;
        insert(conn, &kek_id, version, &wrapped)?;
        // A rotation may have sealed a newer version (this host) or rewrapped every row (another
        // host) between our look at the provider and the insert: bring our row along (only if
        // it is still under our version), so a rotation never retires a version we just used.
        let newer_at_rest = self.provider.versions().ok().and_then(|v| v.last().copied()).is_some_and(|m| m > version);
        if newer_at_rest || keks::max_master_version(conn)?.is_some_and(|m| m > version) {
            self.reload_for(None)?;
            let (nv, nm) = self.current_master()?;
            if nv > version {
                let rewrapped = nm.seal(key.expose(), &crypto::kek_aad(project_id, &kek_id, nv))?;
                keks::rewrap(conn, &kek_id, version, nv, &rewrapped)?;
            }
        }
        Ok((kek_id, Arc::new(key.cipher())))
    }

    /// The project's active KEK, created on the project's first use. The active KEK is looked
    /// up in the database on every call, so a `project-kek rotate` run by another process takes
    /// effect at once; the unwrapped key comes from the cache.
    pub fn active_kek(
        &self,
        conn: &mut DbConn,
        project_id: &str,
    ) -> Result<(String, Arc<Cipher>), KekError> {
        let row = match keks::active_for_project(conn, project_id)? {
            Some(row) => row,
            None => {
                let (kek_id, _) = self.create_kek(conn, project_id, |c, id, v, w| {
                    Ok(keks::insert(c, id, project_id, v, w)?)
                })?;
                // Re-read: if two servers raced, both settle on the same (oldest) active KEK.
                keks::active_for_project(conn, project_id)?.ok_or(KekError::MissingKek(kek_id))?
            }
        };
        if let Some((_, c)) = self.keks.get(row.id.as_str()) {
            kek_cache(true);
            return Ok((row.id, c));
        }
        kek_cache(false);
        let cipher = self.unwrap_row(&row)?;
        self.remember(&row.id, project_id, cipher.clone());
        Ok((row.id, cipher))
    }

    /// A new active KEK for the project; the previous ones stay, inactive, and still decrypt.
    pub fn rotate_project_kek(&self, conn: &mut DbConn, project_id: &str) -> Result<String, KekError> {
        let (kek_id, cipher) = self.create_kek(conn, project_id, |c, id, v, w| {
            Ok(keks::insert_replacing_active(c, id, project_id, v, w)?)
        })?;
        self.remember(&kek_id, project_id, cipher);
        Ok(kek_id)
    }

    /// A project KEK by id, checked to belong to the project.
    pub fn kek(
        &self,
        conn: &mut DbConn,
        project_id: &str,
        kek_id: &str,
    ) -> Result<Arc<Cipher>, KekError> {
        let cached = self.keks.get(kek_id);
        kek_cache(cached.is_some());
        if let Some((p, c)) = cached {
            if &*p == project_id {
                return Ok(c);
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
