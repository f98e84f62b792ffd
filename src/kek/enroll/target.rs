//! The target file `kek export-target-key` writes on a replica, and its verification by
//! `kek export` on the source host (see the module above for what it proves).

use base64::Engine;
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use tss_esapi::abstraction::ek::create_ek_public_from_default_template;
use tss_esapi::interface_types::algorithm::{AsymmetricAlgorithm, HashingAlgorithm};
use tss_esapi::interface_types::structure_tags::AttestationType;
use tss_esapi::structures::{Attest, AttestInfo, Public, RsaScheme};
use tss_esapi::traits::{Marshall, UnMarshall};

use super::ekcert::{self, Anchors, EkCert};
use crate::kek::KekError;

const TARGET_FORMAT: &str = "portcullis-tpm-enrollment-target/v2";
/// The qualifying data of the TPM2_Certify of the enrollment key (what the AK vouches for).
pub const CERTIFY_QUALIFIER: &[u8] = b"portcullis enrollment key v2";

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The TPM name of a public area with the SHA-256 name algorithm: 0x000b || SHA-256(TPMT_PUBLIC).
pub fn tpm_name(tpmt_public: &[u8]) -> Vec<u8> {
    let mut n = vec![0x00, 0x0b];
    n.extend_from_slice(&Sha256::digest(tpmt_public));
    n
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the replica's TPM produced (all public).
pub struct TargetMaterial {
    /// The RSA-2048 EK certificate from NV index 0x01c00002 (DER), if the TPM has one.
    pub ek_certificate: Option<Vec<u8>>,
    /// Marshalled TPMT_PUBLIC areas.
    pub ek_public: Vec<u8>,
    pub ak_public: Vec<u8>,
    pub key_public: Vec<u8>,
    /// The TPMS_ATTEST of TPM2_Certify(enrollment key, AK) and its RSASSA signature.
    pub certify_attest: Vec<u8>,
    pub certify_signature: Vec<u8>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    format: String,
    ek_certificate: Option<String>,
    ek_public: String,
    ak_public: String,
    key_public: String,
    certify_attest: String,
    certify_signature: String,
}

impl TargetMaterial {
    /// The file `kek export-target-key` writes.
    pub fn to_file(&self) -> String {
        let f = TargetFile {
            format: TARGET_FORMAT.into(),
            ek_certificate: self.ek_certificate.as_ref().map(|c| b64().encode(c)),
            ek_public: b64().encode(&self.ek_public),
            ak_public: b64().encode(&self.ak_public),
            key_public: b64().encode(&self.key_public),
            certify_attest: b64().encode(&self.certify_attest),
            certify_signature: b64().encode(&self.certify_signature),
        };
        serde_json::to_string_pretty(&f).expect("serialises") + "\n"
    }

    pub fn parse(text: &str) -> Result<TargetMaterial, KekError> {
        let f: TargetFile = serde_json::from_str(text)
            .map_err(|e| perr(format!("not a Portcullis enrollment target file (from `kek export-target-key`): {e}")))?;
        if f.format != TARGET_FORMAT {
            return Err(perr(format!(
                "enrollment target format {:?} is not {TARGET_FORMAT:?}: run `kek export-target-key` again with this version",
                f.format
            )));
        }
        let d = |what: &str, s: &str| b64().decode(s).map_err(|e| perr(format!("enrollment target file: {what}: bad base64: {e}")));
        Ok(TargetMaterial {
            ek_certificate: f.ek_certificate.as_deref().map(|c| d("ek_certificate", c)).transpose()?,
            ek_public: d("ek_public", &f.ek_public)?,
            ak_public: d("ak_public", &f.ak_public)?,
            key_public: d("key_public", &f.key_public)?,
            certify_attest: d("certify_attest", &f.certify_attest)?,
            certify_signature: d("certify_signature", &f.certify_signature)?,
        })
    }
}

/// How `kek export` decides that the target's EK belongs to a genuine TPM.
pub enum EkTrust {
    /// The EK certificate must chain to one of these CAs.
    Ca(Anchors),
    /// `--insecure-skip-ek-ca-check`: any EK is taken at its word (tests, labs).
    Insecure,
}

/// A target that passed every check: the keys to encrypt to, and what to report.
pub struct Target {
    pub ek: RsaPublicKey,
    pub ek_name: Vec<u8>,
    pub ak_name: Vec<u8>,
    pub key: RsaPublicKey,
    pub key_name: Vec<u8>,
    pub ek_cert: Option<EkCert>,
}

fn rsa_public(p: &Public, what: &str) -> Result<RsaPublicKey, KekError> {
    let Public::Rsa { parameters, unique, .. } = p else {
        return Err(perr(format!("{what}: not an RSA key")));
    };
    if unique.value().len() < 256 {
        return Err(perr(format!("{what}: RSA keys under 2048 bits are refused")));
    }
    let e = match parameters.exponent().value() {
        0 => 65537,
        e => e,
    };
    RsaPublicKey::new(BigUint::from_bytes_be(unique.value()), BigUint::from(e)).map_err(|e| perr(format!("{what}: {e}")))
}

fn unmarshall(raw: &[u8], what: &str) -> Result<Public, KekError> {
    let p = Public::unmarshall(raw).map_err(|e| perr(format!("{what}: not a TPM public area: {e}")))?;
    // One encoding only: what was hashed into the name is what we read.
    if p.marshall().ok().as_deref() != Some(raw) {
        return Err(perr(format!("{what}: the public area is not in canonical form (altered)")));
    }
    if p.name_hashing_algorithm() != HashingAlgorithm::Sha256 {
        return Err(perr(format!("{what}: its name algorithm is not SHA-256")));
    }
    Ok(p)
}

/// The EK must be the TCG default RSA-2048 EK (template L-1): a restricted decryption key
/// whose private part only its TPM holds and uses only for TPM2_ActivateCredential-type work.
fn check_ek(raw: &[u8]) -> Result<RsaPublicKey, KekError> {
    let p = unmarshall(raw, "EK")?;
    let Public::Rsa { unique, .. } = &p else { return Err(perr("EK: not an RSA key")) };
    let template = create_ek_public_from_default_template(AsymmetricAlgorithm::Rsa, None)
        .map_err(|e| perr(format!("EK template: {e}")))?;
    let Public::Rsa { object_attributes, name_hashing_algorithm, auth_policy, parameters, .. } = template else {
        unreachable!("the RSA template is RSA")
    };
    let expected = Public::Rsa { object_attributes, name_hashing_algorithm, auth_policy, parameters, unique: unique.clone() };
    if expected != p {
        return Err(perr("EK: not the TCG default RSA-2048 endorsement key (its template differs)"));
    }
    rsa_public(&p, "EK")
}

/// The AK: an RSA-2048+ restricted signing key (RSASSA-SHA256) made inside a TPM that never
/// lets it out (fixedTPM, fixedParent, sensitiveDataOrigin). A restricted key signs only
/// digests the TPM computed itself, so a TPMS_ATTEST it signs is the TPM's own statement.
fn check_ak(raw: &[u8]) -> Result<RsaPublicKey, KekError> {
    let p = unmarshall(raw, "attestation key")?;
    let a = p.object_attributes();
    if !(a.fixed_tpm() && a.fixed_parent() && a.sensitive_data_origin() && a.restricted() && a.sign_encrypt()) || a.decrypt() {
        return Err(perr(
            "attestation key: not a restricted, non-duplicable TPM signing key (needs fixedTPM, fixedParent, \
             sensitiveDataOrigin, restricted, sign; not decrypt)",
        ));
    }
    match &p {
        Public::Rsa { parameters, .. } => match parameters.rsa_scheme() {
            RsaScheme::RsaSsa(h) if h.hashing_algorithm() == HashingAlgorithm::Sha256 => {}
            other => return Err(perr(format!("attestation key: scheme {other:?} is not RSASSA with SHA-256"))),
        },
        _ => return Err(perr("attestation key: not an RSA key")),
    }
    rsa_public(&p, "attestation key")
}

/// The enrollment key: an RSA-2048+ OAEP decryption key generated in the TPM that can never
/// leave it.
fn check_key(raw: &[u8]) -> Result<RsaPublicKey, KekError> {
    let p = unmarshall(raw, "enrollment key")?;
    let a = p.object_attributes();
    if !(a.fixed_tpm() && a.fixed_parent() && a.sensitive_data_origin() && a.decrypt()) || a.restricted() || a.sign_encrypt() {
        return Err(perr(
            "enrollment key: not a non-duplicable TPM decryption key (needs fixedTPM, fixedParent, \
             sensitiveDataOrigin, decrypt; not restricted, not a signing key)",
        ));
    }
    if let Public::Rsa { parameters, .. } = &p {
        match parameters.rsa_scheme() {
            RsaScheme::Oaep(h) if h.hashing_algorithm() == HashingAlgorithm::Sha256 => {}
            RsaScheme::Null => {}
            other => return Err(perr(format!("enrollment key: scheme {other:?} is not RSA-OAEP with SHA-256"))),
        }
    }
    rsa_public(&p, "enrollment key")
}

/// The AK certified the enrollment key: its signature over the TPMS_ATTEST verifies, and the
/// attestation is a TPM2_Certify of exactly that key with our qualifying data.
fn check_certify(m: &TargetMaterial, ak: RsaPublicKey, key_name: &[u8]) -> Result<(), KekError> {
    let sig = rsa::pkcs1v15::Signature::try_from(m.certify_signature.as_slice())
        .map_err(|_| perr("the certification of the enrollment key has a malformed signature"))?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(ak).verify(&m.certify_attest, &sig).map_err(|_| {
        perr("the certification of the enrollment key is not signed by the target's attestation key (forged or altered)")
    })?;
    let attest = Attest::unmarshall(&m.certify_attest)
        .map_err(|e| perr(format!("the certification of the enrollment key is not a TPM attestation: {e}")))?;
    if attest.marshall().ok().as_deref() != Some(m.certify_attest.as_slice()) {
        return Err(perr("the certification of the enrollment key is not in canonical form (altered)"));
    }
    if attest.attestation_type() != AttestationType::Certify || attest.extra_data().value() != CERTIFY_QUALIFIER {
        return Err(perr("the attestation in the target file is not a Portcullis certification of its enrollment key"));
    }
    let AttestInfo::Certify { info } = attest.attested() else {
        return Err(perr("the attestation in the target file is not a TPM2_Certify"));
    };
    if info.name().value() != key_name {
        return Err(perr(
            "the enrollment key in the target file is not the key its attestation key certified (a key made \
             outside the TPM, or swapped); refusing to export",
        ));
    }
    Ok(())
}

/// Checks a target file; refuses anything that is not an enrollment key certified by an
/// attestation key, with an EK vouched for by the configured CAs (unless `EkTrust::Insecure`).
pub fn verify(text: &str, trust: &EkTrust) -> Result<Target, KekError> {
    let m = TargetMaterial::parse(text)?;
    let ek = check_ek(&m.ek_public)?;
    let ek_cert = match trust {
        EkTrust::Insecure => None,
        EkTrust::Ca(anchors) => {
            let der = m.ek_certificate.as_deref().ok_or_else(|| {
                perr(
                    "the target file carries no EK certificate (its TPM has none at NV index 0x01c00002), so \
                     nothing vouches for its TPM; refusing to export",
                )
            })?;
            let cert = ekcert::verify(der, anchors)?;
            if cert.key != ek {
                return Err(perr("the target's EK certificate is for another key than its EK (forged or swapped); refusing to export"));
            }
            Some(cert)
        }
    };
    let ak = check_ak(&m.ak_public)?;
    let key = check_key(&m.key_public)?;
    let key_name = tpm_name(&m.key_public);
    check_certify(&m, ak, &key_name)?;
    Ok(Target { ek, ek_name: tpm_name(&m.ek_public), ak_name: tpm_name(&m.ak_public), key, key_name, ek_cert })
}
