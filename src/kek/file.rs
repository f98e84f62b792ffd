//! The `file` master-KEK provider: the master KEK in a local file, in plaintext.
//! For development only; the server refuses it in production and warns at every start.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use zeroize::Zeroizing;

use super::{KekError, MasterKekProvider, MasterKeys};
use crate::crypto::Key;

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
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                KekError::Provider(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let key = Key::generate();
        let text = Zeroizing::new(format!(
            "# Portcullis development master KEK. Plaintext key material: never use in production.\n1:{}\n",
            base64::engine::general_purpose::STANDARD.encode(key.expose())
        ));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&self.path)
            .map_err(|e| KekError::Provider(format!("cannot create {}: {e}", self.path.display())))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| KekError::Provider(format!("cannot write {}: {e}", self.path.display())))?;
        Ok(true)
    }
}

impl MasterKekProvider for FileProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    fn plaintext_at_rest(&self) -> bool {
        true
    }

    /// File format: comment lines starting with `#`, then `VERSION:BASE64KEY` lines; the highest
    /// version is current.
    fn load(&self) -> Result<MasterKeys, KekError> {
        let text = Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|e| {
            KekError::Provider(format!(
                "cannot read the development master KEK file {}: {e}",
                self.path.display()
            ))
        })?);
        let mut versions = HashMap::new();
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
        let current = *versions.keys().max().ok_or_else(|| {
            KekError::Provider(format!("{} holds no master KEK", self.path.display()))
        })?;
        Ok(MasterKeys { current, versions })
    }
}
