//! The server certificate, swapped atomically on reload: a handshake takes the `Arc` in use at
//! that moment; established connections are not touched.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::{Zeroize, Zeroizing};

pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("cert_file", &self.cert_file).finish_non_exhaustive()
    }
}

impl ReloadingCert {
    pub fn load(cert_file: PathBuf, key_file: PathBuf) -> Result<Self, String> {
        let ck = read_pair(&cert_file, &key_file)?;
        Ok(ReloadingCert { cert_file, key_file, current: RwLock::new(Arc::new(ck)) })
    }

    /// Reads both files again; on success the new pair serves every later handshake and its
    /// SHA-256 fingerprint is returned. On failure the pair in use stays.
    pub fn reload(&self) -> Result<String, String> {
        let ck = read_pair(&self.cert_file, &self.key_file)?;
        let fp = ck.end_entity_cert().map(|c| super::peer::sha256_hex(c)).unwrap_or_default();
        *self.current.write() = Arc::new(ck);
        Ok(fp)
    }

    /// SHA-256 fingerprint of the certificate now served.
    pub fn fingerprint(&self) -> String {
        self.current.read().end_entity_cert().map(|c| super::peer::sha256_hex(c)).unwrap_or_default()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

fn read_pair(cert_file: &PathBuf, key_file: &PathBuf) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| format!("[ssl] cert_file {}: {e}", cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("[ssl] cert_file {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!("[ssl] cert_file {}: no certificate in it", cert_file.display()));
    }
    // The key file's text is wiped after parsing (it holds the private key).
    let pem = Zeroizing::new(
        std::fs::read(key_file).map_err(|e| format!("[ssl] key_file {}: {e}", key_file.display()))?,
    );
    let mut key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| format!("[ssl] key_file {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it", key_file.display()))?;
    warn_if_readable_by_others(key_file);
    // Loaded by reference so that the DER copy can be wiped here.
    let signer = rustls::crypto::ring::sign::any_supported_type(&key);
    key.zeroize();
    let signer = signer.map_err(|e| format!("[ssl] key_file {}: {e}", key_file.display()))?;
    let ck = CertifiedKey::new(chain, signer);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "[ssl] key_file {} does not belong to the certificate in cert_file {}",
            key_file.display(),
            cert_file.display()
        )),
        Err(e) => Err(format!("[ssl] cert_file {}: {e}", cert_file.display())),
    }
}

fn warn_if_readable_by_others(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", m.permissions().mode() & 0o777),
                "the TLS private key file is readable by other users; chmod 600 it");
        }
    }
}
