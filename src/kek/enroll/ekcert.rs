//! The endorsement-key certificate of a target TPM, checked against the CA bundle of
//! `[kek] ek_ca_file`: the TPM maker's CAs (roots and intermediates) that the operator trusts to
//! certify endorsement keys only of genuine TPMs. Every certificate of the bundle is a trust
//! anchor; the EK certificate must be signed by one of them (RSA PKCS#1 v1.5 with SHA-256,
//! SHA-384 or SHA-512) and carry an RSA key.

use std::path::{Path, PathBuf};

use x509_cert::der::{self, Decode, Encode};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use x509_cert::Certificate;

use crate::kek::KekError;

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

const SHA256_WITH_RSA: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// The CA certificates trusted to issue EK certificates.
pub struct Anchors {
    certs: Vec<Certificate>,
    path: PathBuf,
}

impl Anchors {
    /// Reads a PEM bundle of one or more certificates.
    pub fn load(path: &Path) -> Result<Anchors, KekError> {
        let pem = std::fs::read(path).map_err(|e| perr(format!("[kek] ek_ca_file {}: cannot read it: {e}", path.display())))?;
        let certs = Certificate::load_pem_chain(&pem)
            .map_err(|e| perr(format!("[kek] ek_ca_file {}: not a PEM bundle of X.509 certificates: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(perr(format!("[kek] ek_ca_file {} holds no certificate", path.display())));
        }
        Ok(Anchors { certs, path: path.to_path_buf() })
    }
}

/// What the exporter reports about a verified EK certificate.
pub struct EkCert {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub key: RsaPublicKey,
}

fn rsa_key(cert: &Certificate) -> Option<RsaPublicKey> {
    let der = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    RsaPublicKey::from_public_key_der(&der).ok()
}

fn verify_rsa<D>(key: RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool
where
    D: sha2::Digest + der::oid::AssociatedOid,
{
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else { return false };
    rsa::pkcs1v15::VerifyingKey::<D>::new(key).verify(msg, &sig).is_ok()
}

/// True when `issuer` signed `cert`.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if issuer.tbs_certificate.subject != cert.tbs_certificate.issuer
        || cert.signature_algorithm != cert.tbs_certificate.signature
    {
        return false;
    }
    let (Some(key), Ok(tbs), Some(sig)) =
        (rsa_key(issuer), cert.tbs_certificate.to_der(), cert.signature.as_bytes())
    else {
        return false;
    };
    match cert.signature_algorithm.oid {
        o if o == SHA256_WITH_RSA => verify_rsa::<sha2::Sha256>(key, &tbs, sig),
        o if o == SHA384_WITH_RSA => verify_rsa::<sha2::Sha384>(key, &tbs, sig),
        o if o == SHA512_WITH_RSA => verify_rsa::<sha2::Sha512>(key, &tbs, sig),
        _ => false,
    }
}

/// Checks an EK certificate (DER) against the anchors; returns its RSA key and a description.
pub fn verify(der: &[u8], anchors: &Anchors) -> Result<EkCert, KekError> {
    let cert = Certificate::from_der(der).map_err(|e| perr(format!("the target's EK certificate does not parse: {e}")))?;
    let tbs = &cert.tbs_certificate;
    let (subject, issuer, serial) = (tbs.subject.to_string(), tbs.issuer.to_string(), tbs.serial_number.to_string());
    if !anchors.certs.iter().any(|a| signed_by(&cert, a)) {
        return Err(perr(format!(
            "the target's EK certificate (issuer \"{issuer}\", serial {serial}) is not signed by any CA of \
             [kek] ek_ca_file ({}): nothing vouches that its key belongs to a genuine TPM; refusing to export",
            anchors.path.display()
        )));
    }
    let key = rsa_key(&cert).ok_or_else(|| perr("the target's EK certificate does not carry an RSA key (only RSA-2048 EKs are supported)"))?;
    Ok(EkCert { subject, issuer, serial, key })
}

/// The length of the DER certificate at the start of `bytes` (an NV index may pad it).
pub fn der_len(bytes: &[u8]) -> Option<usize> {
    let mut r = der::SliceReader::new(bytes).ok()?;
    let header = der::Header::decode(&mut r).ok()?;
    let total = (header.encoded_len().ok()? + header.length).ok()?;
    usize::try_from(u32::from(total)).ok().filter(|n| *n <= bytes.len())
}
