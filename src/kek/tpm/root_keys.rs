//! Keys of sensitivity `high` in the TPM: HMAC (keyed-hash objects), RSA and ECDSA signing keys,
//! made by TPM2_Create under the storage primary key and used by TPM2_HMAC and TPM2_Sign. Their
//! sensitive areas are made in the TPM and leave it only encrypted under the storage primary key
//! (the blob's private area), so no plaintext key ever reaches Portcullis.
//!
//! Each operation opens its own TPM connection, as the master-KEK code does: the storage primary
//! key (its name checked against the pin), the key loaded from its blob, a session salted to the
//! primary key, the command, and every handle flushed on every path. The sessions are salted so
//! that their HMAC keys are secret: the TPM's answers (the public area of a new key, a signature,
//! a tag) are integrity-checked, and the HMAC input and tag cross the TCTI encrypted (parameter
//! encryption, AES-128-CFB). Blob format and encodings: `keyblob`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::KeyHandle;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Digest, HashScheme, HashcheckTicket, MaxBuffer, Private, Public, Signature, SignatureScheme,
};
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;

use super::conn::{explain, Tpm};
use super::keyblob::{self, Shape};
use super::{perr, TpmProvider};
use crate::crypto::managed::{Hash, KeyType, RsaScheme};
use crate::kek::root_keys::{RootKey, RootKeys};
use crate::kek::KekError;

/// The largest HMAC input one TPM2_HMAC takes (TPM2B_MAX_BUFFER). Longer inputs would need an
/// HMAC sequence (TPM2_HMAC_Start / SequenceUpdate / SequenceComplete), which tss-esapi 7.7 does
/// not offer; they are refused.
pub const MAX_HMAC_INPUT: usize = 1024;

/// Which key types this TPM runs, asked once (TPM2_TestParms) and shared by the provider's clones.
pub(super) type SupportCache = Arc<Mutex<Option<HashMap<KeyType, bool>>>>;

/// The TPM as the root of trust of keys of sensitivity `high` (see the module doc).
pub struct TpmRootKeys {
    tpm: TpmProvider,
}

impl TpmRootKeys {
    pub(super) fn new(tpm: TpmProvider) -> TpmRootKeys {
        TpmRootKeys { tpm }
    }

    /// Asks the TPM about every type it might run; None when the TPM cannot be reached.
    fn probe(&self) -> Option<HashMap<KeyType, bool>> {
        let mut tpm = match self.tpm.open() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the TPM which key types it supports");
                return None;
            }
        };
        let mut out = HashMap::new();
        for kt in KeyType::ALL {
            let ok = keyblob::shape(kt)
                .and_then(|s| keyblob::parameters(s).ok())
                .is_some_and(|p| tpm.ctx.test_parms(p).is_ok());
            out.insert(kt, ok);
        }
        Some(out)
    }

    fn unsupported(&self, kt: KeyType) -> KekError {
        if keyblob::shape(kt).is_none() {
            return perr(format!(
                "keys of type {} cannot have sensitivity high: the TPM runs only HMAC (hmac-sha256, hmac-sha512), \
                 RSA and ECDSA (ecdsa-p256, ecdsa-p384) signing keys",
                kt.as_str()
            ));
        }
        perr(format!(
            "this TPM does not support {} keys (TPM2_TestParms refused them, or the TPM cannot be reached), so they \
             cannot have sensitivity high here; choose another key type",
            kt.as_str()
        ))
    }

    /// The storage primary key and the key of `blob` loaded under it, and a session salted to
    /// the primary key, which is flushed again (it holds an object slot). On error, everything
    /// loaded so far is flushed.
    fn load(&self, tpm: &mut Tpm, kt: KeyType, blob: &[u8], decrypt: bool, encrypt: bool) -> Result<(KeyHandle, AuthSession), KekError> {
        let (public, private): (Public, Private) = keyblob::decode(kt, blob)?;
        let primary = self.tpm.primary(tpm)?;
        let key = match tpm.ctx.execute_with_session(Some(AuthSession::Password), |c| c.load(primary, private, public)) {
            Ok(k) => k,
            Err(e) => {
                tpm.flush(primary.into());
                if explain(&e).is_some() {
                    return Err(self.tpm.tpm_failure(&format!("cannot load the {} key", kt.as_str()), e));
                }
                return Err(perr(format!(
                    "the {} key does not load in this TPM: it was made by another TPM (or before this TPM's owner \
                     hierarchy was cleared), or its blob was altered (TPM: {e})",
                    kt.as_str()
                )));
            }
        };
        tpm.track(key.into());
        let session = tpm.salted_session(primary, SessionType::Hmac, decrypt, encrypt);
        tpm.flush(primary.into());
        match session {
            Ok(s) => Ok((key, s)),
            Err(e) => {
                tpm.flush(key.into());
                Err(self.tpm.tpm_failure("cannot start a salted session", e))
            }
        }
    }
}

fn null_ticket() -> tss_esapi::Result<HashcheckTicket> {
    HashcheckTicket::try_from(TPMT_TK_HASHCHECK { tag: TPM2_ST_HASHCHECK, hierarchy: TPM2_RH_NULL, digest: Default::default() })
}

impl RootKeys for TpmRootKeys {
    fn name(&self) -> &'static str {
        "tpm"
    }

    fn supports(&self, kt: KeyType) -> bool {
        if keyblob::shape(kt).is_none() {
            return false;
        }
        let mut cache = self.tpm.support.lock();
        if cache.is_none() {
            *cache = self.probe();
        }
        cache.as_ref().and_then(|m| m.get(&kt).copied()).unwrap_or(false)
    }

    fn create(&self, kt: KeyType) -> Result<RootKey, KekError> {
        let Some(shape) = keyblob::shape(kt).filter(|_| self.supports(kt)) else {
            return Err(self.unsupported(kt));
        };
        let template = keyblob::template(shape).map_err(|e| perr(format!("cannot build the TPM template of a {} key: {e}", kt.as_str())))?;
        self.tpm.ensure_dir()?;
        let mut tpm = self.tpm.open()?;
        let primary = self.tpm.primary(&mut tpm)?;
        // No sensitive data goes in (the TPM makes it) and the private area comes back encrypted
        // by the TPM; the salted session makes the new public area's integrity checked.
        let r = tpm.salted_session(primary, SessionType::Hmac, false, false).and_then(|s| {
            let r = tpm.ctx.execute_with_session(Some(s), |c| c.create(primary, template, None, None, None, None));
            tpm.flush_session(s);
            r
        });
        tpm.flush(primary.into());
        drop(tpm);
        let r = r.map_err(|e| self.tpm.tpm_failure(&format!("cannot create a {} key in the TPM", kt.as_str()), e))?;
        let public_der = keyblob::public_der(&r.out_public)?;
        Ok(RootKey { blob: keyblob::encode(&r.out_public, &r.out_private)?, public_der })
    }

    fn hmac(&self, kt: KeyType, blob: &[u8], data: &[u8]) -> Result<Vec<u8>, KekError> {
        let Some(Shape::Hmac(alg)) = keyblob::shape(kt) else {
            return Err(perr(format!("{} keys do not compute HMACs", kt.as_str())));
        };
        if data.len() > MAX_HMAC_INPUT {
            return Err(perr(format!(
                "an HMAC key of sensitivity high runs in the TPM, which takes at most {MAX_HMAC_INPUT} bytes of \
                 input per HMAC ({} given)",
                data.len()
            )));
        }
        let buffer = MaxBuffer::try_from(data.to_vec()).map_err(|e| perr(format!("HMAC input: {e}")))?;
        let mut tpm = self.tpm.open()?;
        // The input goes to the TPM and the tag comes back encrypted under the session key.
        let (key, session) = self.load(&mut tpm, kt, blob, true, true)?;
        let r = tpm.ctx.execute_with_session(Some(session), |c| c.hmac(key.into(), buffer, alg));
        tpm.flush_session(session);
        tpm.flush(key.into());
        let tag = r.map_err(|e| self.tpm.tpm_failure(&format!("the TPM cannot compute the HMAC of a {} key", kt.as_str()), e))?;
        Ok(tag.value().to_vec())
    }

    fn sign_digest(&self, kt: KeyType, blob: &[u8], digest: &[u8], hash: Hash, scheme: Option<RsaScheme>) -> Result<Vec<u8>, KekError> {
        let hash_scheme = HashScheme::new(keyblob::hashing(hash));
        let (scheme, modulus_len) = match keyblob::shape(kt) {
            Some(Shape::Rsa(bits)) => match scheme.unwrap_or(RsaScheme::Pss) {
                RsaScheme::Pss => (SignatureScheme::RsaPss { hash_scheme }, u16::from(bits) as usize / 8),
                RsaScheme::Pkcs1v15 => (SignatureScheme::RsaSsa { hash_scheme }, u16::from(bits) as usize / 8),
            },
            Some(Shape::Ecc(_)) => (SignatureScheme::EcDsa { hash_scheme }, 0),
            _ => return Err(perr(format!("{} keys do not sign", kt.as_str()))),
        };
        if digest.len() != hash.len() {
            return Err(perr(format!("a {} digest is {} bytes, not {}", hash.as_str(), hash.len(), digest.len())));
        }
        let digest = Digest::try_from(digest.to_vec()).map_err(|e| perr(format!("digest: {e}")))?;
        let ticket = null_ticket().map_err(|e| perr(format!("cannot build a null hashcheck ticket: {e}")))?;
        let mut tpm = self.tpm.open()?;
        // The digest goes in encrypted; the signature is public.
        let (key, session) = self.load(&mut tpm, kt, blob, true, false)?;
        let r = tpm.ctx.execute_with_session(Some(session), |c| c.sign(key, digest, scheme, ticket));
        tpm.flush_session(session);
        tpm.flush(key.into());
        let sig = r.map_err(|e| self.tpm.tpm_failure(&format!("the TPM cannot sign with a {} key", kt.as_str()), e))?;
        match sig {
            Signature::RsaSsa(s) | Signature::RsaPss(s) => {
                let raw = s.signature().value();
                // A signature is as long as the modulus (I2OSP); put back leading zeros if the TPM dropped them.
                let mut out = vec![0u8; modulus_len.saturating_sub(raw.len())];
                out.extend_from_slice(raw);
                Ok(out)
            }
            Signature::EcDsa(s) => keyblob::ecdsa_der(s.signature_r().value(), s.signature_s().value()),
            _ => Err(perr("the TPM signed with an unexpected scheme")),
        }
    }
}
