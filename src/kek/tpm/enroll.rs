//! The replica's side of enrollment in its TPM (see `kek::enroll` for the protocol): the
//! endorsement key and its certificate, an attestation key and an enrollment key made in the
//! TPM, the certification of the one by the other, and at import, TPM2_ActivateCredential and
//! TPM2_RSA_Decrypt.

use std::convert::TryFrom;

use tss_esapi::abstraction::ek::{create_ek_object, retrieve_ek_pubcert};
use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, DefaultKey};
use tss_esapi::attributes::{ObjectAttributes, ObjectAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{AuthHandle, KeyHandle};
use tss_esapi::interface_types::algorithm::{AsymmetricAlgorithm, HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Data, EncryptedSecret, HashScheme, IdObject, Private, Public, PublicBuilder, PublicKeyRsa,
    PublicRsaParametersBuilder, RsaDecryptionScheme, RsaExponent, RsaScheme, Signature, SignatureScheme,
    SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use zeroize::Zeroizing;

use super::conn::{hex, Tpm};
use super::{perr, TpmProvider, ENROLL_LABEL};
use crate::kek::enroll::blob::{ExportBlob, Unlock};
use crate::kek::enroll::ekcert;
use crate::kek::enroll::target::{self, TargetMaterial, CERTIFY_QUALIFIER};
use crate::kek::KekError;

const TARGET_KEY: &str = "enroll-target";
const AK: &str = "enroll-ak";

/// The attestation key: a restricted RSA-2048 signing key (RSASSA, SHA-256).
fn ak_template() -> tss_esapi::Result<Public> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_restricted(true)
        .with_sign_encrypt(true)
        .build()?;
    rsa_template(attrs, RsaScheme::RsaSsa(HashScheme::new(HashingAlgorithm::Sha256)), true)
}

/// The enrollment target key: an unrestricted RSA-2048 decryption key (OAEP, SHA-256).
fn key_template() -> tss_esapi::Result<Public> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_decrypt(true)
        .build()?;
    rsa_template(attrs, RsaScheme::Oaep(HashScheme::new(HashingAlgorithm::Sha256)), false)
}

/// An RSA-2048 public area with a SHA-256 name: a restricted signing key (`signing`) or an
/// unrestricted decryption key.
fn rsa_template(attrs: ObjectAttributes, scheme: RsaScheme, signing: bool) -> tss_esapi::Result<Public> {
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Rsa)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_rsa_parameters(
            PublicRsaParametersBuilder::new()
                .with_scheme(scheme)
                .with_key_bits(RsaKeyBits::Rsa2048)
                .with_exponent(RsaExponent::default())
                .with_is_signing_key(signing)
                .with_is_decryption_key(!signing)
                .with_restricted(signing)
                .with_symmetric(SymmetricDefinitionObject::Null)
                .build()?,
        )
        .with_rsa_unique_identifier(PublicKeyRsa::default())
        .build()
}

impl TpmProvider {
    /// The endorsement key (TCG default RSA-2048 template), created again from the
    /// endorsement seed; returns it and its public area.
    fn ek(&self, tpm: &mut Tpm) -> Result<(KeyHandle, Public), KekError> {
        let ek = create_ek_object(&mut tpm.ctx, AsymmetricAlgorithm::Rsa, DefaultKey)
            .map_err(|e| self.tpm_failure("cannot create the endorsement key", e))?;
        tpm.track(ek.into());
        let (public, _, _) = tpm.ctx.read_public(ek).map_err(|e| self.tpm_failure("cannot read the endorsement key", e))?;
        Ok((ek, public))
    }

    /// Creates a key under the storage primary and loads it; returns its handle and blobs.
    fn create_and_load(&self, tpm: &mut Tpm, primary: KeyHandle, template: Public, what: &str) -> Result<(KeyHandle, Public, Private), KekError> {
        let r = tpm
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| c.create(primary, template, None, None, None, None))
            .map_err(|e| self.tpm_failure(&format!("cannot create the {what}"), e))?;
        let h = tpm
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| c.load(primary, r.out_private.clone(), r.out_public.clone()))
            .map_err(|e| self.tpm_failure(&format!("cannot load the {what}"), e))?;
        tpm.track(h.into());
        Ok((h, r.out_public, r.out_private))
    }

    /// `kek export-target-key`: makes an attestation key and an enrollment key in this TPM,
    /// certifies the one with the other, and returns what the source host needs (all public).
    /// The keys' blobs rest in `sealed_dir` until the import.
    pub fn create_target(&self) -> Result<TargetMaterial, KekError> {
        self.ensure_dir()?;
        let mut tpm = self.open()?;
        let primary = self.primary(&mut tpm)?;
        let (ek, ek_public) = self.ek(&mut tpm)?;
        tpm.flush(ek.into());
        let ek_certificate = match retrieve_ek_pubcert(&mut tpm.ctx, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048)) {
            Ok(mut der) => {
                der.truncate(ekcert::der_len(&der).unwrap_or(der.len()));
                Some(der)
            }
            Err(e) => {
                tracing::warn!(error = %e, "this TPM has no RSA EK certificate at NV index 0x01c00002");
                None
            }
        };
        let ak_t = ak_template().map_err(|e| perr(e.to_string()))?;
        let key_t = key_template().map_err(|e| perr(e.to_string()))?;
        let (ak, ak_public, ak_private) = self.create_and_load(&mut tpm, primary, ak_t, "attestation key")?;
        let (key, key_public, key_private) = self.create_and_load(&mut tpm, primary, key_t, "enrollment key")?;
        let certified = tpm.ctx.execute_with_sessions((Some(AuthSession::Password), Some(AuthSession::Password), None), |c| {
            c.certify(key.into(), ak, Data::try_from(CERTIFY_QUALIFIER.to_vec()).expect("fits"), SignatureScheme::Null)
        });
        tpm.flush(key.into());
        tpm.flush(ak.into());
        tpm.flush(primary.into());
        let (attest, signature) = certified.map_err(|e| self.tpm_failure("cannot certify the enrollment key", e))?;
        let Signature::RsaSsa(sig) = signature else {
            return Err(perr("the TPM signed the certification with an unexpected scheme"));
        };
        let m = |p: &Public| p.marshall().map_err(|e| perr(e.to_string()));
        let material = TargetMaterial {
            ek_certificate,
            ek_public: m(&ek_public)?,
            ak_public: m(&ak_public)?,
            key_public: m(&key_public)?,
            certify_attest: attest.marshall().map_err(|e| perr(e.to_string()))?,
            certify_signature: sig.signature().value().to_vec(),
        };
        // What the source host will check, checked here first (minus the EK certificate).
        target::verify(&material.to_file(), &target::EkTrust::Insecure)?;
        self.write_file(&self.file(AK, "priv"), ak_private.value())?;
        self.write_file(&self.file(AK, "pub"), &material.ak_public)?;
        self.write_file(&self.file(TARGET_KEY, "priv"), key_private.value())?;
        self.write_file(&self.file(TARGET_KEY, "pub"), &material.key_public)?;
        Ok(material)
    }

    fn read_target(&self, stem: &str) -> Result<(Public, Private, Vec<u8>), KekError> {
        let (pub_path, priv_path) = (self.file(stem, "pub"), self.file(stem, "priv"));
        let (Ok(pub_raw), Ok(priv_raw)) = (std::fs::read(&pub_path), std::fs::read(&priv_path)) else {
            return Err(perr(format!(
                "this host has no enrollment key in {} (run `portcullis kek export-target-key` here first, \
                 and export to the file it writes)",
                self.dir.display()
            )));
        };
        let public = Public::unmarshall(&pub_raw).map_err(|e| perr(format!("{} is corrupt: {e}", pub_path.display())))?;
        let private = Private::try_from(priv_raw).map_err(|e| perr(format!("{} is corrupt: {e}", priv_path.display())))?;
        let name = target::tpm_name(&pub_raw);
        Ok((public, private, name))
    }

    /// Refuses a blob made for another target before the TPM is asked anything.
    fn check_names(&self, blob: &ExportBlob, ak_name: &[u8], key_name: &[u8]) -> Result<(), KekError> {
        if blob.ak_name != hex(ak_name) || blob.key_name != hex(key_name) {
            return Err(perr(format!(
                "the export blob was made for another enrollment target (attestation key {}, enrollment key {}), \
                 not this host's ({}, {}): export again to the file this host's `kek export-target-key` wrote; \
                 nothing was imported",
                blob.ak_name,
                blob.key_name,
                hex(ak_name),
                hex(key_name)
            )));
        }
        Ok(())
    }

    /// `kek import`: gets the credential back through TPM2_ActivateCredential (only this TPM's
    /// EK opens its seed, and only with the certified attestation key loaded) and the data key
    /// through TPM2_RSA_Decrypt with the enrollment key; both come back over a salted session
    /// with response encryption.
    pub fn unlock_export(&self, blob: &ExportBlob) -> Result<Unlock, KekError> {
        let (ak_public, ak_private, ak_name) = self.read_target(AK)?;
        let (key_public, key_private, key_name) = self.read_target(TARGET_KEY)?;
        self.check_names(blob, &ak_name, &key_name)?;
        let (id_object, secret, key_oaep) = (blob.bytes("credential_blob")?, blob.bytes("credential_secret")?, blob.bytes("key_oaep")?);
        let refused = |what: &str, e: tss_esapi::Error| {
            self.tpm_failure(
                &format!(
                    "the export blob does not open in this TPM ({what}): it was made for another TPM, or altered; \
                     nothing was imported"
                ),
                e,
            )
        };
        // A TPM may hold as few as three objects: the storage primary key goes once the keys
        // under it are loaded and the session salted by it has started.
        let mut tpm = self.open()?;
        let primary = self.primary(&mut tpm)?;
        let load = |tpm: &mut Tpm, private: Private, public: Public, what: &str| {
            let h = tpm
                .ctx
                .execute_with_session(Some(AuthSession::Password), |c| c.load(primary, private, public))
                .map_err(|e| self.tpm_failure(&format!("the {what} does not load in this TPM (made by another TPM, or altered)"), e))?;
            tpm.track(h.into());
            Ok::<_, KekError>(h)
        };
        let ak = load(&mut tpm, ak_private, ak_public, "attestation key")?;
        let key = load(&mut tpm, key_private, key_public, "enrollment key")?;
        let salted = tpm
            .salted_session(primary, SessionType::Hmac, false, true)
            .map_err(|e| self.tpm_failure("cannot start a salted session", e))?;
        tpm.flush(primary.into());
        let (ek, ek_public) = self.ek(&mut tpm)?;
        let ek_name = target::tpm_name(&ek_public.marshall().map_err(|e| perr(e.to_string()))?);
        if blob.ek_name != hex(&ek_name) {
            return Err(perr(format!(
                "the export blob was made for the TPM whose endorsement key is {}, not this one ({}); nothing was imported",
                blob.ek_name,
                hex(&ek_name)
            )));
        }
        // The EK is used under its policy: PolicySecret(endorsement hierarchy).
        let ek_session = tpm.policy_session().map_err(|e| self.tpm_failure("cannot start a policy session", e))?;
        let credential = PolicySession::try_from(ek_session)
            .and_then(|ps| {
                tpm.ctx.execute_with_session(Some(AuthSession::Password), |c| {
                    c.policy_secret(ps, AuthHandle::Endorsement, Default::default(), Default::default(), Default::default(), None)
                })
            })
            .map_err(|e| self.tpm_failure("cannot authorise the endorsement key", e))
            .and_then(|_| {
                let (id, sec) = (IdObject::try_from(id_object).map_err(|e| perr(e.to_string()))?, EncryptedSecret::try_from(secret).map_err(|e| perr(e.to_string()))?);
                tpm.ctx
                    .execute_with_sessions((Some(salted), Some(ek_session), None), |c| c.activate_credential(ak, ek, id, sec))
                    .map_err(|e| refused("credential activation", e))
            })
            .map(|d| Zeroizing::new(d.value().to_vec()));
        let data_key = credential.as_ref().map_err(|e| perr(e.to_string())).and_then(|_| {
            let ct = PublicKeyRsa::try_from(key_oaep).map_err(|e| perr(e.to_string()))?;
            tpm.ctx
                .execute_with_session(Some(salted), |c| {
                    c.rsa_decrypt(
                        key,
                        ct,
                        RsaDecryptionScheme::Oaep(HashScheme::new(HashingAlgorithm::Sha256)),
                        Data::try_from(ENROLL_LABEL.to_vec()).expect("label fits"),
                    )
                })
                .map(|m| Zeroizing::new(m.value().to_vec()))
                .map_err(|e| refused("enrollment key decryption", e))
        });
        tpm.flush_session(salted);
        tpm.flush_session(ek_session);
        for h in [key, ak, ek] {
            tpm.flush(h.into());
        }
        Ok(Unlock { credential: credential?, data_key: data_key? })
    }

    /// Removes the enrollment and attestation keys (after a successful import).
    pub fn remove_target_key(&self) {
        for stem in [TARGET_KEY, AK] {
            for ext in ["pub", "priv"] {
                let _ = std::fs::remove_file(self.file(stem, ext));
            }
        }
    }
}
