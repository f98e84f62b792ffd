//! A key version's material: made, sealed under the project KEK, and opened again. For keys of
//! sensitivity high the "material" is the root of trust's opaque blob; its plaintext key never
//! exists here.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::managed::{self as m, Hash, KeyType, Material, OpError, SignParams};
use crate::crypto;
use crate::kek::root_keys::RootKeys;
use crate::model::managed_key::{ManagedKey, Sensitivity};
use crate::service::{Core, ServiceError, ServiceResult};
use crate::store::managed_keys::VersionRow;
use crate::store::{now_micros, DbConn};

/// An opened version, ready for operations.
pub enum Held {
    /// Software: the plaintext material, zeroized on drop.
    Soft(Material),
    /// Sensitivity high: the root's blob (not a key) and the root that runs it.
    Root { blob: Zeroizing<Vec<u8>>, root: Arc<dyn RootKeys> },
}

const SOFTWARE: &str = "software";

fn root_of(core: &Core, kt: KeyType) -> ServiceResult<Arc<dyn RootKeys>> {
    let root = core.keys.root_keys().ok_or_else(|| {
        ServiceError::KeyOp(OpError::Unsupported(
            "keys of sensitivity high need a root of trust: this server's master-KEK provider has none (use the tpm provider)".into(),
        ))
    })?;
    if !root.supports(kt) {
        return Err(ServiceError::KeyOp(OpError::Unsupported(format!(
            "the root of trust ({}) cannot run {} keys; sensitivity high supports HMAC, RSA and ECDSA signing keys the root supports",
            root.name(),
            kt.as_str()
        ))));
    }
    Ok(root)
}

/// Checks that a key of this type and sensitivity can be made here (before anything is written).
pub fn check_makeable(core: &Core, kt: KeyType, s: Sensitivity) -> ServiceResult<()> {
    if s == Sensitivity::High {
        root_of(core, kt)?;
    }
    Ok(())
}

fn origin(core: &Core, key: &ManagedKey) -> &'static str {
    match key.sensitivity {
        Sensitivity::High => core.keys.root_keys().map(|r| r.name()).unwrap_or("root"),
        _ => SOFTWARE,
    }
}

/// Makes version `version` of `key` and seals it under the project's active KEK.
pub fn make(core: &Core, conn: &mut DbConn, key: &ManagedKey, version: i32) -> ServiceResult<VersionRow> {
    let (plain, public_der) = if key.sensitivity == Sensitivity::High {
        let root = root_of(core, key.key_type)?;
        let made = root.create(key.key_type)?;
        (Zeroizing::new(made.blob), made.public_der)
    } else {
        let mat = m::generate(key.key_type)?;
        let public = m::public_der(key.key_type, &mat)?;
        (Zeroizing::new(mat.as_bytes().to_vec()), public)
    };
    let (kek_id, cipher) = core.keys.active_kek(conn, &key.project_id)?;
    let aad = crypto::managed_key_aad(&key.id, version, &key.project_id, &kek_id, key.key_type.as_str(), origin(core, key));
    let sealed = cipher.seal(&plain, &aad).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(VersionRow { key_id: key.id.clone(), version, kek_id, sealed, public_der, created_at: now_micros() })
}

/// Opens a version sealed by [`make`]. A blob moved to another key, version or project fails.
pub fn open(core: &Core, conn: &mut DbConn, key: &ManagedKey, row: &VersionRow) -> ServiceResult<Held> {
    let cipher = core.keys.kek(conn, &key.project_id, &row.kek_id)?;
    let aad = crypto::managed_key_aad(&key.id, row.version, &key.project_id, &row.kek_id, key.key_type.as_str(), origin(core, key));
    let plain = cipher
        .open(&row.sealed, &aad)
        .map_err(|e| ServiceError::Internal(format!("key {} version {} does not open: {e}", key.id, row.version)))?;
    if key.sensitivity == Sensitivity::High {
        return Ok(Held::Root { blob: plain, root: root_of(core, key.key_type)? });
    }
    Ok(Held::Soft(Material::from_bytes(plain)))
}

fn root_only(kt: KeyType) -> ServiceError {
    ServiceError::KeyOp(OpError::Unsupported(format!(
        "{} keys of sensitivity high run only HMAC and signing inside the root of trust",
        kt.as_str()
    )))
}

impl Held {
    pub fn encrypt(&self, kt: KeyType, plain: &[u8], aad: Option<&[u8]>) -> ServiceResult<Vec<u8>> {
        match self {
            Held::Soft(mat) => Ok(m::encrypt(kt, mat, plain, aad)?),
            Held::Root { .. } => Err(root_only(kt)),
        }
    }

    pub fn decrypt(&self, kt: KeyType, ct: &[u8], aad: Option<&[u8]>) -> ServiceResult<Zeroizing<Vec<u8>>> {
        match self {
            Held::Soft(mat) => Ok(m::decrypt(kt, mat, ct, aad)?),
            Held::Root { .. } => Err(root_only(kt)),
        }
    }

    pub fn sign(&self, kt: KeyType, input: &[u8], p: &SignParams) -> ServiceResult<Vec<u8>> {
        match self {
            Held::Soft(mat) => Ok(m::sign(kt, mat, input, p)?),
            Held::Root { blob, root } => {
                if !kt.can(crate::crypto::managed::Op::Sign) {
                    return Err(ServiceError::KeyOp(OpError::Unsupported(format!("{} keys cannot sign", kt.as_str()))));
                }
                let hash = p.hash.unwrap_or(if kt == KeyType::EcdsaP384 { Hash::Sha384 } else { Hash::Sha256 });
                let digest = if p.prehashed {
                    if input.len() != hash.len() {
                        return Err(ServiceError::KeyOp(OpError::Invalid(format!(
                            "a prehashed input for {} must be {} bytes",
                            hash.as_str(),
                            hash.len()
                        ))));
                    }
                    input.to_vec()
                } else {
                    hash.digest(input)
                };
                Ok(root.sign_digest(kt, blob, &digest, hash, p.scheme)?)
            }
        }
    }

    pub fn hmac(&self, kt: KeyType, input: &[u8]) -> ServiceResult<Vec<u8>> {
        match self {
            Held::Soft(mat) => Ok(m::hmac(kt, mat, input)?),
            Held::Root { blob, root } => {
                if input.len() > crate::kek::tpm::root_keys::MAX_HMAC_INPUT {
                    return Err(ServiceError::KeyOp(OpError::Invalid(format!(
                        "keys of sensitivity high take at most {} bytes of HMAC input (the TPM's buffer)",
                        crate::kek::tpm::root_keys::MAX_HMAC_INPUT
                    ))));
                }
                Ok(root.hmac(kt, blob, input)?)
            }
        }
    }

    /// Constant-time comparison of the tag.
    pub fn hmac_verify(&self, kt: KeyType, input: &[u8], tag: &[u8]) -> ServiceResult<bool> {
        match self {
            Held::Soft(mat) => Ok(m::hmac_verify(kt, mat, input, tag)?),
            Held::Root { .. } => {
                use subtle::ConstantTimeEq;
                let mine = self.hmac(kt, input)?;
                Ok(mine.len() == tag.len() && bool::from(mine.ct_eq(tag)))
            }
        }
    }

    /// The plaintext material (export); never for keys held by the root.
    pub fn export(&self) -> ServiceResult<&[u8]> {
        match self {
            Held::Soft(mat) => Ok(mat.as_bytes()),
            Held::Root { .. } => Err(ServiceError::NotExportable),
        }
    }
}
