//! The `file` master-KEK provider: the master KEK in a local file, in plaintext.
//! For development only; the server refuses it in production and warns at every start.
//!
//! File format: comment lines starting with `#`, then `VERSION:BASE64KEY` lines; the highest
//! version is current.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use zeroize::Zeroizing;

use super::{KekError, MasterKekProvider, MasterKeys};
use crate::crypto::Key;

const HEADER: &str = "# Portcullis development master KEK. Plaintext key material: never use in production.\n";

pub struct FileProvider {
    pub path: PathBuf,
}

impl FileProvider {
    pub fn new(path: PathBuf) -> FileProvider {
        FileProvider { path }
    }

    /// Creates the file with a new random master KEK (version 1) if it does not exist yet.
    /// Returns true when it created one.
    pub fn create_if_missing(&self) -> Result<bool, KekError> {
        if self.path.exists() {
            return Ok(false);
        }
        let mut keys = BTreeMap::new();
        keys.insert(1, Key::generate());
        self.write(&keys, true)?;
        Ok(true)
    }

    fn parse(&self) -> Result<BTreeMap<i32, Key>, KekError> {
        let text = Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|e| {
            KekError::Provider(format!(
                "cannot read the development master KEK file {}: {e}",
                self.path.display()
            ))
        })?);
        let mut versions = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                KekError::Provider(format!(
                    "{} line {}: expected VERSION:BASE64KEY (a 32-byte key)",
                    self.path.display(),
                    n + 1
                ))
            };
            let (v, b64) = line.split_once(':').ok_or_else(bad)?;
            let v: i32 = v.trim().parse().map_err(|_| bad())?;
            let mut raw = Zeroizing::new(
                base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| bad())?,
            );
            let key = Key::from_slice(&mut raw[..]).ok_or_else(bad)?;
            versions.insert(v, key);
        }
        Ok(versions)
    }

    /// Writes all versions: a new file (`create_new`), or a temporary file renamed over it.
    fn write(&self, keys: &BTreeMap<i32, Key>, create_new: bool) -> Result<(), KekError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                KekError::Provider(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut text = Zeroizing::new(String::from(HEADER));
        for (v, k) in keys {
            text.push_str(&format!(
                "{v}:{}\n",
                base64::engine::general_purpose::STANDARD.encode(k.expose())
            ));
        }
        let target = if create_new { self.path.clone() } else { self.path.with_extension("kek.tmp") };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true);
        if create_new {
            opts.create_new(true);
        } else {
            opts.create(true).truncate(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&target)
            .map_err(|e| KekError::Provider(format!("cannot create {}: {e}", target.display())))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| KekError::Provider(format!("cannot write {}: {e}", target.display())))?;
        if !create_new {
            std::fs::rename(&target, &self.path).map_err(|e| {
                KekError::Provider(format!("cannot replace {}: {e}", self.path.display()))
            })?;
        }
        Ok(())
    }
}

impl MasterKekProvider for FileProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    fn plaintext_at_rest(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("plaintext development file {}", self.path.display())
    }

    fn load(&self) -> Result<MasterKeys, KekError> {
        let versions = self.parse()?;
        let current = *versions.keys().max().ok_or_else(|| {
            KekError::Provider(format!("{} holds no master KEK", self.path.display()))
        })?;
        Ok(MasterKeys { current, versions: versions.into_iter().collect() })
    }

    fn versions(&self) -> Result<Vec<i32>, KekError> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        Ok(self.parse()?.into_keys().collect())
    }

    fn store(&self, version: i32, key: &Key) -> Result<(), KekError> {
        if !self.path.exists() {
            let mut keys = BTreeMap::new();
            keys.insert(version, key.clone());
            return self.write(&keys, true);
        }
        let mut keys = self.parse()?;
        if keys.contains_key(&version) {
            return Err(KekError::Provider(format!(
                "master KEK version {version} already exists in {}; refusing to overwrite it",
                self.path.display()
            )));
        }
        keys.insert(version, key.clone());
        self.write(&keys, false)
    }

    fn retire(&self, version: i32) -> Result<(), KekError> {
        let mut keys = self.parse()?;
        if keys.remove(&version).is_some() {
            if keys.is_empty() {
                return Err(KekError::Provider("refusing to retire the last master KEK version".into()));
            }
            self.write(&keys, false)?;
        }
        Ok(())
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("kek.lock")
    }
}
