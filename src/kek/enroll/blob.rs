//! The export blob: the master KEK versions for one target, authenticated end to end.
//!
//! Every field but `sealed` is associated data of the AES-256-GCM encryption in `sealed`, whose
//! key needs both the credential (released only by the target TPM's TPM2_ActivateCredential)
//! and the data key (released only by TPM2_RSA_Decrypt with the target's enrollment key). The
//! text itself must be exactly what `kek export` wrote: one byte changed anywhere (a field, a
//! space, the final newline) either fails to parse, fails the canonical-form check, breaks the
//! associated data, or makes the TPM refuse; nothing is written before all of that passed.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::{Key, KEY_LEN};
use crate::kek::KekError;

const BLOB_FORMAT: &str = "portcullis-master-kek-export/v2";
const WRAP_LABEL: &[u8] = b"portcullis master KEK export v2\0";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn altered(detail: impl std::fmt::Display) -> KekError {
    KekError::Provider(format!(
        "the export blob is damaged or was altered ({detail}); it must be exactly as `kek export` wrote it; \
         nothing was imported"
    ))
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExportBlob {
    pub format: String,
    /// The target's TPM names (hex): endorsement key, attestation key, enrollment key.
    pub ek_name: String,
    pub ak_name: String,
    pub key_name: String,
    /// The versions inside (the database decides which are accepted, and which is current).
    pub versions: Vec<i32>,
    /// TPM2_MakeCredential for the AK's name under the EK: TPM2B_ID_OBJECT contents, and the
    /// seed encrypted to the EK.
    pub credential_blob: String,
    pub credential_secret: String,
    /// A 32-byte data key, RSA-OAEP encrypted to the enrollment key.
    pub key_oaep: String,
    /// AES-256-GCM (nonce || ciphertext || tag) of the versions' keys.
    pub sealed: String,
}

/// The two secrets the target's TPM gives back.
pub struct Unlock {
    pub credential: Zeroizing<Vec<u8>>,
    pub data_key: Zeroizing<Vec<u8>>,
}

impl Unlock {
    fn wrapping_key(&self) -> Result<Key, KekError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.credential).expect("HMAC takes any key length");
        mac.update(WRAP_LABEL);
        mac.update(&self.data_key);
        let mut k = mac.finalize().into_bytes();
        Key::from_slice(&mut k[..]).ok_or_else(|| altered("wrapping key"))
    }
}

impl ExportBlob {
    /// A header for a target; `credential_blob`, `credential_secret`, `key_oaep` base64.
    pub fn new(names: [String; 3], versions: Vec<i32>, credential_blob: &[u8], credential_secret: &[u8], key_oaep: &[u8]) -> ExportBlob {
        let [ek_name, ak_name, key_name] = names;
        ExportBlob {
            format: BLOB_FORMAT.into(),
            ek_name,
            ak_name,
            key_name,
            versions,
            credential_blob: b64().encode(credential_blob),
            credential_secret: b64().encode(credential_secret),
            key_oaep: b64().encode(key_oaep),
            sealed: String::new(),
        }
    }

    /// The associated data: every field but `sealed`, serialised.
    fn aad(&self) -> Vec<u8> {
        let mut h = self.clone();
        h.sealed.clear();
        serde_json::to_vec(&h).expect("serialises")
    }

    pub fn bytes(&self, field: &str) -> Result<Vec<u8>, KekError> {
        let s = match field {
            "credential_blob" => &self.credential_blob,
            "credential_secret" => &self.credential_secret,
            "key_oaep" => &self.key_oaep,
            "sealed" => &self.sealed,
            _ => unreachable!("no such field"),
        };
        b64().decode(s).map_err(|e| altered(format!("{field}: {e}")))
    }

    /// Seals the keys (the header must list exactly their versions); returns the blob's text.
    pub fn seal(mut self, keys: &BTreeMap<i32, &Key>, unlock: &Unlock) -> Result<String, KekError> {
        assert_eq!(self.versions, keys.keys().copied().collect::<Vec<_>>(), "header lists the sealed versions");
        let mut payload = Zeroizing::new(Vec::with_capacity(keys.len() * (4 + KEY_LEN)));
        for (v, k) in keys {
            payload.extend_from_slice(&v.to_be_bytes());
            payload.extend_from_slice(k.expose());
        }
        let sealed = unlock.wrapping_key()?.cipher().seal(&payload, &self.aad())?;
        self.sealed = b64().encode(sealed);
        Ok(serde_json::to_string_pretty(&self).expect("serialises") + "\n")
    }

    /// Parses a blob, refusing any text that is not byte for byte what `seal` wrote.
    pub fn parse(text: &str) -> Result<ExportBlob, KekError> {
        let blob: ExportBlob = serde_json::from_str(text).map_err(|e| {
            KekError::Provider(format!("not a Portcullis master KEK export, or damaged: {e}; nothing was imported"))
        })?;
        if blob.format != BLOB_FORMAT {
            return Err(altered(format!("format {:?} is not {BLOB_FORMAT:?}", blob.format)));
        }
        if serde_json::to_string_pretty(&blob).expect("serialises") + "\n" != text {
            return Err(altered("it is not in the exact form `kek export` writes"));
        }
        if blob.versions.is_empty() || blob.versions.windows(2).any(|w| w[0] >= w[1]) {
            return Err(altered("its version list is not ascending"));
        }
        for f in ["credential_blob", "credential_secret", "key_oaep", "sealed"] {
            blob.bytes(f)?;
        }
        Ok(blob)
    }

    /// Opens the keys with what the target's TPM released; refuses any alteration.
    pub fn open(&self, unlock: &Unlock) -> Result<BTreeMap<i32, Key>, KekError> {
        let payload = unlock
            .wrapping_key()?
            .cipher()
            .open(&self.bytes("sealed")?, &self.aad())
            .map_err(|_| altered("its authentication failed"))?;
        if payload.len() != self.versions.len() * (4 + KEY_LEN) {
            return Err(altered("its content does not match its version list"));
        }
        let mut keys = BTreeMap::new();
        for (chunk, v) in payload.chunks(4 + KEY_LEN).zip(&self.versions) {
            let got = i32::from_be_bytes(chunk[..4].try_into().expect("4 bytes"));
            let mut raw = Zeroizing::new(chunk[4..].to_vec());
            let key = Key::from_slice(&mut raw[..]).ok_or_else(|| altered("key length"))?;
            if got != *v {
                return Err(altered("its content does not match its version list"));
            }
            keys.insert(got, key);
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlock() -> Unlock {
        Unlock { credential: Zeroizing::new(vec![3; 32]), data_key: Zeroizing::new(vec![4; 32]) }
    }

    fn sample() -> (String, Key, Key) {
        let (k1, k2) = (Key::generate(), Key::generate());
        let mut keys = BTreeMap::new();
        keys.insert(1, &k1);
        keys.insert(2, &k2);
        let names = ["000b".to_string() + &"aa".repeat(32), "000b".to_string() + &"bb".repeat(32), "000b".to_string() + &"cc".repeat(32)];
        let h = ExportBlob::new(names, vec![1, 2], &[1; 90], &[2; 256], &[5; 256]);
        (h.seal(&keys, &unlock()).unwrap(), k1, k2)
    }

    #[test]
    fn round_trip() {
        let (text, k1, k2) = sample();
        let keys = ExportBlob::parse(&text).unwrap().open(&unlock()).unwrap();
        assert_eq!(keys[&1].expose(), k1.expose());
        assert_eq!(keys[&2].expose(), k2.expose());
        let wrong = Unlock { credential: Zeroizing::new(vec![9; 32]), data_key: Zeroizing::new(vec![4; 32]) };
        assert!(ExportBlob::parse(&text).unwrap().open(&wrong).is_err());
        let wrong = Unlock { credential: Zeroizing::new(vec![3; 32]), data_key: Zeroizing::new(vec![8; 32]) };
        assert!(ExportBlob::parse(&text).unwrap().open(&wrong).is_err(), "both secrets are needed");
    }

    /// Every byte of the blob, changed in three ways: refused by parsing or by authentication,
    /// even with the right secrets (a change in the TPM-bound fields also breaks the
    /// associated data, before the TPM would refuse it).
    #[test]
    fn any_changed_byte_is_refused() {
        let (text, ..) = sample();
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x20, 0x80] {
                let mut b = bytes.to_vec();
                b[i] ^= x;
                let Ok(t) = String::from_utf8(b) else { continue };
                let r = ExportBlob::parse(&t).and_then(|blob| blob.open(&unlock()));
                assert!(r.is_err(), "byte {i} ^ {x:#x} ({:?}) was accepted", bytes[i] as char);
            }
        }
        let mut t = text.clone();
        t.pop();
        assert!(ExportBlob::parse(&t).is_err(), "the final newline counts");
        assert!(ExportBlob::parse(&(text.clone() + " ")).is_err(), "trailing bytes count");
    }

    #[test]
    fn a_changed_version_list_is_refused() {
        let (text, ..) = sample();
        let t = text.replace("    1,\n    2\n", "    1,\n    2,\n    3\n");
        assert_ne!(t, text);
        let blob = ExportBlob::parse(&t).unwrap();
        assert!(blob.open(&unlock()).is_err());
        let t = text.replace("    1,\n    2\n", "    2\n");
        assert!(ExportBlob::parse(&t).unwrap().open(&unlock()).is_err());
    }
}
