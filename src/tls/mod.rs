//! TLS in the binary (`[ssl]`): rustls with the ring provider, TLS 1.2 and 1.3 only. The server
//! certificate and key are re-read on SIGHUP without dropping connections ([`cert`]); with
//! `ca_file`, client certificates are verified (mutual TLS) and the verified identity is put on
//! each request of the connection ([`peer`]).

pub mod cert;
pub mod peer;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

pub use cert::ReloadingCert;
pub use peer::on_connect;

/// `[ssl]`, with oslo.service's option names. TLS is on when `cert_file` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SslSection {
    /// PEM: the server certificate, then any intermediates.
    pub cert_file: Option<PathBuf>,
    /// PEM: the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM bundle of the CAs that issue client certificates; turns on mutual TLS.
    pub ca_file: Option<PathBuf>,
    /// With `ca_file`: `required` (default, as oslo.service: a client without a valid
    /// certificate fails the handshake) or `optional` (a certificate, when sent, must be valid).
    pub client_auth: Option<ClientAuth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    Optional,
    Required,
}

impl SslSection {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// The effective client-certificate mode; `None` without `ca_file`.
    pub fn client_auth(&self) -> Option<ClientAuth> {
        self.ca_file.as_ref().map(|_| self.client_auth.unwrap_or(ClientAuth::Required))
    }

    /// Consistency of the settings alone (no file is read).
    pub fn validate(&self) -> Result<(), String> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => return Err("[ssl] cert_file is set but key_file is not".into()),
            (None, Some(_)) => return Err("[ssl] key_file is set but cert_file is not".into()),
            _ => {}
        }
        if !self.enabled() && self.ca_file.is_some() {
            return Err("[ssl] ca_file (client certificates) needs cert_file and key_file".into());
        }
        if self.client_auth.is_some() && self.ca_file.is_none() {
            return Err("[ssl] client_auth needs ca_file (the CAs that issue client certificates)".into());
        }
        Ok(())
    }
}

/// A TLS server configuration and the handle that reloads its certificate.
pub struct Tls {
    pub config: ServerConfig,
    pub cert: Arc<ReloadingCert>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the files and builds the rustls configuration; `Ok(None)` when TLS is off.
pub fn load(ssl: &SslSection) -> Result<Option<Tls>, String> {
    ssl.validate()?;
    let (Some(cert_file), Some(key_file)) = (&ssl.cert_file, &ssl.key_file) else {
        return Ok(None);
    };
    let provider = provider();
    let cert = Arc::new(ReloadingCert::load(cert_file.clone(), key_file.clone())?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("[ssl]: {e}"))?;
    let builder = match (ssl.client_auth(), &ssl.ca_file) {
        (Some(mode), Some(ca)) => {
            let roots = Arc::new(client_roots(ca)?);
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let v = if mode == ClientAuth::Optional { v.allow_unauthenticated() } else { v };
            let v = v.build().map_err(|e| format!("[ssl] ca_file {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(v)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder.with_cert_resolver(cert.clone());
    Ok(Some(Tls { config, cert }))
}

fn client_roots(ca: &std::path::Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("[ssl] ca_file {}: {e}", ca.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("[ssl] ca_file {}: {e}", ca.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("[ssl] ca_file {}: no CA certificate in it", ca.display()));
    }
    Ok(roots)
}

/// Handles SIGHUP until the process ends (`systemctl reload`): re-reads the certificate and
/// key when TLS is on (a bad new pair keeps the one in use and logs why); without TLS it only
/// logs, instead of the default action that would end the process.
pub fn reload_on_sighup(cert: Option<Arc<ReloadingCert>>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::task::spawn_local(async move {
        while hup.recv().await.is_some() {
            match cert.as_ref().map(|c| c.reload()) {
                Some(Ok(fp)) => tracing::info!(sha256 = %fp, "SIGHUP: reloaded the TLS certificate and key"),
                Some(Err(e)) => tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; the previous one stays in use"),
                None => tracing::info!("SIGHUP: nothing to reload ([ssl] is off)"),
            }
        }
    });
    Ok(())
}
