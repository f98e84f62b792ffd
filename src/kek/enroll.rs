//! Replica enrollment: moving the master KEK versions to another host's TPM, never in
//! plaintext.
//!
//! 1. On the target host, `portcullis kek export-target-key` makes an RSA-2048 OAEP decryption
//!    key inside its TPM (fixedTPM, fixedParent: it can never leave that TPM) and writes the
//!    key's public area.
//! 2. On the source host, `portcullis kek export --to FILE` checks that public area (a
//!    non-duplicable TPM decryption key) and encrypts each master KEK version to it with
//!    RSA-OAEP (SHA-256, a fixed label) in software: a public-key operation only.
//! 3. On the target, `portcullis kek import BLOB` decrypts inside the TPM (TPM2_RSA_Decrypt,
//!    the plaintext returning over a salted session with response encryption) and seals each
//!    version locally.
//!
//! Both sides print the target key's TPM name, for the operator to compare out of band.

use base64::Engine;
use rsa::{BigUint, Oaep, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use tss_esapi::structures::{Public, RsaScheme};
use tss_esapi::traits::UnMarshall;

use super::tpm::ENROLL_LABEL;
use super::{KekError, MasterKeys};

const KEY_FORMAT: &str = "portcullis-tpm-enrollment-key/v1";
const BLOB_FORMAT: &str = "portcullis-master-kek-export/v1";

#[derive(serde::Serialize, serde::Deserialize)]
struct TargetKeyFile {
    format: String,
    /// TPM name of the key: nameAlg (0x000b) || SHA-256(TPMT_PUBLIC), hex.
    name: String,
    /// The marshalled TPMT_PUBLIC, base64.
    tpmt_public: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct ExportBlob {
    pub format: String,
    pub target_name: String,
    pub current: i32,
    pub keys: Vec<ExportedKey>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct ExportedKey {
    pub version: i32,
    /// RSA-OAEP ciphertext of the 32-byte key, base64.
    pub oaep: String,
}

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The TPM name of a public area (SHA-256 name algorithm).
pub fn tpm_name(tpmt_public: &[u8]) -> String {
    let mut out = String::from("000b");
    for b in Sha256::digest(tpmt_public) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The file `kek export-target-key` writes.
pub fn target_key_file(tpmt_public: &[u8]) -> String {
    let f = TargetKeyFile {
        format: KEY_FORMAT.into(),
        name: tpm_name(tpmt_public),
        tpmt_public: b64().encode(tpmt_public),
    };
    serde_json::to_string_pretty(&f).expect("serialises") + "\n"
}

/// Checks a target key file and returns its RSA public key and TPM name. Refuses keys that are
/// not non-duplicable TPM decryption keys.
fn target_key(text: &str) -> Result<(RsaPublicKey, String), KekError> {
    let f: TargetKeyFile = serde_json::from_str(text)
        .map_err(|e| perr(format!("not a Portcullis enrollment key file: {e}")))?;
    if f.format != KEY_FORMAT {
        return Err(perr(format!("unknown enrollment key format {:?}", f.format)));
    }
    let raw = b64().decode(f.tpmt_public.trim()).map_err(|e| perr(format!("enrollment key: bad base64: {e}")))?;
    let name = tpm_name(&raw);
    if name != f.name {
        return Err(perr("enrollment key file: its name does not match its public area (altered)"));
    }
    let public = Public::unmarshall(&raw).map_err(|e| perr(format!("enrollment key: not a TPM public area: {e}")))?;
    let Public::Rsa { object_attributes: a, parameters, unique, .. } = public else {
        return Err(perr("enrollment key: not an RSA key"));
    };
    if !(a.fixed_tpm() && a.fixed_parent() && a.sensitive_data_origin() && a.decrypt()) || a.restricted() || a.sign_encrypt() {
        return Err(perr(
            "enrollment key: not a non-duplicable TPM decryption key (needs fixedTPM, fixedParent, \
             sensitiveDataOrigin, decrypt; not restricted, not a signing key)",
        ));
    }
    match parameters.rsa_scheme() {
        RsaScheme::Oaep(h) if h.hashing_algorithm() == tss_esapi::interface_types::algorithm::HashingAlgorithm::Sha256 => {}
        RsaScheme::Null => {}
        other => return Err(perr(format!("enrollment key: scheme {other:?} is not RSA-OAEP with SHA-256"))),
    }
    let e: u32 = parameters.exponent().value();
    let e = if e == 0 { 65537 } else { e };
    let key = RsaPublicKey::new(BigUint::from_bytes_be(unique.value()), BigUint::from(e))
        .map_err(|e| perr(format!("enrollment key: {e}")))?;
    if unique.value().len() < 256 {
        return Err(perr("enrollment key: RSA keys under 2048 bits are refused"));
    }
    Ok((key, name))
}

/// Encrypts every master KEK version to the target's TPM key: the blob `kek export` writes.
/// Returns the blob and the target key's TPM name.
pub fn export(keys: &MasterKeys, target_key_text: &str) -> Result<(String, String), KekError> {
    let (pk, name) = target_key(target_key_text)?;
    let label = std::str::from_utf8(ENROLL_LABEL).expect("ASCII label");
    let mut versions: Vec<_> = keys.versions.iter().collect();
    versions.sort_by_key(|(v, _)| **v);
    let mut out = Vec::new();
    for (v, k) in versions {
        let ct = pk
            .encrypt(&mut rand::rngs::OsRng, Oaep::new_with_label::<Sha256, _>(label), k.expose())
            .map_err(|e| perr(format!("RSA-OAEP encryption failed: {e}")))?;
        out.push(ExportedKey { version: *v, oaep: b64().encode(ct) });
    }
    let blob = ExportBlob { format: BLOB_FORMAT.into(), target_name: name.clone(), current: keys.current, keys: out };
    Ok((serde_json::to_string_pretty(&blob).expect("serialises") + "\n", name))
}

/// Parses an export blob into (version, ciphertext) pairs.
pub fn parse_export(text: &str) -> Result<(ExportBlob, Vec<(i32, Vec<u8>)>), KekError> {
    let blob: ExportBlob =
        serde_json::from_str(text).map_err(|e| perr(format!("not a Portcullis master KEK export: {e}")))?;
    if blob.format != BLOB_FORMAT {
        return Err(perr(format!("unknown export format {:?}", blob.format)));
    }
    let mut cts = Vec::new();
    for k in &blob.keys {
        let ct = b64().decode(k.oaep.trim()).map_err(|e| perr(format!("export blob v{}: bad base64: {e}", k.version)))?;
        cts.push((k.version, ct));
    }
    if cts.is_empty() {
        return Err(perr("the export blob holds no master KEK"));
    }
    Ok((blob, cts))
}
