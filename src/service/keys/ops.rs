//! Operations with a managed key: encrypt, decrypt, rewrap, data keys, sign, verify, HMAC,
//! export, each on one item or a batch. One look-up of the key (and, for a single item, of the
//! one version it needs, in the same query), one policy decision, then every item on its own:
//! an item's failure is its own result, not the batch's.

use std::collections::HashMap;

use rand::RngCore;
use zeroize::Zeroizing;

use super::material::{self, Held};
use super::{access, rotate_if_due};
use crate::crypto::managed::{decode_versioned, encode_versioned, KeyType, Op, OpError, SignParams};
use crate::model::managed_key::{ManagedKey, Sensitivity};
use crate::policy::PolicyTarget;
use crate::service::access::Caller;
use crate::service::{Core, Missing, ServiceError, ServiceResult};
use crate::store::managed_keys::{self as repo, VersionRow};
use crate::store::DbConn;

/// One item of an operation, decoded by the API.
pub enum Item {
    Encrypt { plaintext: Zeroizing<Vec<u8>>, aad: Option<Vec<u8>>, version: Option<i32> },
    Decrypt { ciphertext: String, aad: Option<Vec<u8>> },
    Rewrap { ciphertext: String, aad: Option<Vec<u8>> },
    /// A fresh data key of `bytes` bytes, returned wrapped (and in plaintext when asked).
    Datakey { bytes: usize, aad: Option<Vec<u8>>, with_plaintext: bool },
    Sign { input: Vec<u8>, params: SignParams },
    Verify { input: Vec<u8>, signature: String, params: SignParams },
    Hmac { input: Vec<u8> },
    HmacVerify { input: Vec<u8>, hmac: String },
}

/// One item's result.
pub enum Output {
    Ciphertext { ciphertext: String, version: i32 },
    Plaintext(Zeroizing<Vec<u8>>),
    Datakey { ciphertext: String, plaintext: Option<Zeroizing<Vec<u8>>>, version: i32 },
    Signature { signature: String, version: i32 },
    Hmac { hmac: String, version: i32 },
    Valid(bool),
}

impl Item {
    /// The operation a grant must allow.
    pub fn op(&self) -> Op {
        match self {
            Item::Encrypt { .. } => Op::Encrypt,
            Item::Decrypt { .. } => Op::Decrypt,
            Item::Rewrap { .. } => Op::Rewrap,
            Item::Datakey { .. } => Op::Datakey,
            Item::Sign { .. } => Op::Sign,
            Item::Verify { .. } | Item::HmacVerify { .. } => Op::Verify,
            Item::Hmac { .. } => Op::Hmac,
        }
    }

    /// The version a versioned input names (None: the operation uses the current version).
    fn named_version(&self) -> Option<i32> {
        let s = match self {
            Item::Decrypt { ciphertext, .. } | Item::Rewrap { ciphertext, .. } => ciphertext,
            Item::Verify { signature, .. } => signature,
            Item::HmacVerify { hmac, .. } => hmac,
            Item::Encrypt { version, .. } => return *version,
            _ => return None,
        };
        decode_versioned(s).ok().and_then(|(v, _)| i32::try_from(v).ok())
    }
}

/// The key's versions opened so far in this request.
struct Versions<'a> {
    core: &'a Core,
    key: ManagedKey,
    rows: HashMap<i32, VersionRow>,
    held: HashMap<i32, Held>,
    all_loaded: bool,
}

impl Versions<'_> {
    /// Version `v`'s row (every version is loaded at the first miss).
    fn row(&mut self, conn: &mut DbConn, v: i32) -> ServiceResult<&VersionRow> {
        if !self.rows.contains_key(&v) && !self.all_loaded {
            for row in repo::version_rows(conn, &self.key.id)? {
                self.rows.entry(row.version).or_insert(row);
            }
            self.all_loaded = true;
        }
        self.rows.get(&v).ok_or(ServiceError::NotFound(Missing::KeyVersion))
    }

    /// Version `v`, opened once per request.
    fn get(&mut self, conn: &mut DbConn, v: i32) -> ServiceResult<&Held> {
        if !self.held.contains_key(&v) {
            self.row(conn, v)?;
            let held = material::open(self.core, conn, &self.key, &self.rows[&v])?;
            self.held.insert(v, held);
        }
        Ok(&self.held[&v])
    }

    fn public_der(&mut self, conn: &mut DbConn, v: i32) -> ServiceResult<&[u8]> {
        let id = self.key.id.clone();
        self.row(conn, v)?
            .public_der
            .as_deref()
            .ok_or_else(|| ServiceError::Internal(format!("key {id} version {v} has no public key")))
    }

    /// A version that may decrypt or verify: from `min_decryption_version` to the current one.
    fn readable(&self, v: i32) -> ServiceResult<i32> {
        if v < self.key.min_decryption_version || v > self.key.current_version {
            return Err(ServiceError::NotFound(Missing::KeyVersion));
        }
        Ok(v)
    }

    /// The version to encrypt or sign with: the current one, or one asked for that is allowed.
    fn writable(&self, asked: Option<i32>) -> ServiceResult<i32> {
        let Some(v) = asked else { return Ok(self.key.current_version) };
        let floor = self.key.min_encryption_version.max(self.key.min_decryption_version);
        if v < floor || v > self.key.current_version {
            return Err(ServiceError::Invalid(format!(
                "key_version must be between {floor} and the current version {}",
                self.key.current_version
            )));
        }
        Ok(v)
    }
}

fn versioned(s: &str) -> ServiceResult<(i32, Vec<u8>)> {
    let (v, bytes) = decode_versioned(s)?;
    let v = i32::try_from(v).map_err(|_| ServiceError::NotFound(Missing::KeyVersion))?;
    Ok((v, bytes))
}

fn check_type(kt: KeyType, op: Op) -> ServiceResult<()> {
    if kt.can(op) {
        return Ok(());
    }
    Err(ServiceError::KeyOp(OpError::Unsupported(format!("{} keys cannot {}", kt.as_str(), op.as_str()))))
}

/// Runs `items` (all of one operation) with key `id`. `items` is reported once policy allowed
/// the caller (so a forbidden caller learns nothing about its input's validity).
pub fn run<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    op: Op,
    items: impl FnOnce() -> Result<Vec<Item>, E>,
) -> Result<Vec<ServiceResult<Output>>, E> {
    let mut conn = core.conn()?;
    // The key and the one version a lone item needs, in one query (the current version for
    // encrypt/sign/hmac/datakey: the join names it).
    let (key, row) = repo::view(&mut conn, id, None).map_err(ServiceError::from)?.ok_or(ServiceError::NotFound(Missing::Key))?;
    access::require(caller, &key, op)?;
    check_type(key.key_type, op)?;
    let items = items()?;
    let key = if matches!(op, Op::Encrypt | Op::Datakey | Op::Sign | Op::Hmac | Op::Rewrap) && super::rotation_due(&key) {
        rotate_if_due(core, &mut conn, key)?
    } else {
        key
    };
    let mut vs = Versions { core, rows: HashMap::new(), held: HashMap::new(), all_loaded: false, key };
    if let Some(row) = row.filter(|r| r.version == vs.key.current_version) {
        vs.rows.insert(row.version, row);
    }
    if items.len() == 1 {
        if let Some(v) = items[0].named_version().filter(|v| !vs.rows.contains_key(v)) {
            if let Some((_, Some(row))) = repo::view(&mut conn, id, Some(v)).map_err(ServiceError::from)? {
                vs.rows.insert(v, row);
            }
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.op() != op {
            out.push(Err(ServiceError::Internal("mixed operations in one batch".into())));
            continue;
        }
        out.push(one(&mut vs, &mut conn, item));
    }
    Ok(out)
}

fn one(vs: &mut Versions<'_>, conn: &mut DbConn, item: Item) -> ServiceResult<Output> {
    let kt = vs.key.key_type;
    match item {
        Item::Encrypt { plaintext, aad, version } => {
            let v = vs.writable(version)?;
            let ct = vs.get(conn, v)?.encrypt(kt, &plaintext, aad.as_deref())?;
            Ok(Output::Ciphertext { ciphertext: encode_versioned(v as u32, &ct), version: v })
        }
        Item::Decrypt { ciphertext, aad } => {
            let (v, ct) = versioned(&ciphertext)?;
            let v = vs.readable(v)?;
            Ok(Output::Plaintext(vs.get(conn, v)?.decrypt(kt, &ct, aad.as_deref())?))
        }
        Item::Rewrap { ciphertext, aad } => {
            let (v, ct) = versioned(&ciphertext)?;
            let v = vs.readable(v)?;
            let plain = vs.get(conn, v)?.decrypt(kt, &ct, aad.as_deref())?;
            let now = vs.writable(None)?;
            let ct = vs.get(conn, now)?.encrypt(kt, &plain, aad.as_deref())?;
            Ok(Output::Ciphertext { ciphertext: encode_versioned(now as u32, &ct), version: now })
        }
        Item::Datakey { bytes, aad, with_plaintext } => {
            let mut dek = Zeroizing::new(vec![0u8; bytes]);
            rand::rngs::OsRng.fill_bytes(&mut dek);
            let v = vs.writable(None)?;
            let ct = vs.get(conn, v)?.encrypt(kt, &dek, aad.as_deref())?;
            Ok(Output::Datakey {
                ciphertext: encode_versioned(v as u32, &ct),
                plaintext: with_plaintext.then_some(dek),
                version: v,
            })
        }
        Item::Sign { input, params } => {
            let v = vs.writable(None)?;
            let sig = vs.get(conn, v)?.sign(kt, &input, &params)?;
            Ok(Output::Signature { signature: encode_versioned(v as u32, &sig), version: v })
        }
        Item::Verify { input, signature, params } => {
            let (v, sig) = versioned(&signature)?;
            let v = vs.readable(v)?;
            let public = vs.public_der(conn, v)?;
            Ok(Output::Valid(crate::crypto::managed::verify(kt, public, &input, &sig, &params)?))
        }
        Item::Hmac { input } => {
            let v = vs.writable(None)?;
            let tag = vs.get(conn, v)?.hmac(kt, &input)?;
            Ok(Output::Hmac { hmac: encode_versioned(v as u32, &tag), version: v })
        }
        Item::HmacVerify { input, hmac } => {
            let (v, tag) = versioned(&hmac)?;
            let v = vs.readable(v)?;
            Ok(Output::Valid(vs.get(conn, v)?.hmac_verify(kt, &input, &tag)?))
        }
    }
}

/// `POST /v1/keys/{id}/export` (`key:export`): the material of one version (or of every
/// readable one), only for keys of sensitivity low marked exportable.
pub fn export(core: &Core, caller: &Caller, id: &str, version: Option<i32>) -> ServiceResult<(ManagedKey, Vec<(i32, Zeroizing<Vec<u8>>)>)> {
    let mut conn = core.conn()?;
    let key = repo::get(&mut conn, id)?.ok_or(ServiceError::NotFound(Missing::Key))?;
    access::require(caller, &key, Op::Export)?;
    if key.sensitivity != Sensitivity::Low || !key.exportable {
        return Err(ServiceError::NotExportable);
    }
    let mut out = Vec::new();
    for row in repo::version_rows(&mut conn, id)? {
        if row.version < key.min_decryption_version || version.is_some_and(|v| v != row.version) {
            continue;
        }
        let held = material::open(core, &mut conn, &key, &row)?;
        out.push((row.version, Zeroizing::new(held.export()?.to_vec())));
    }
    if out.is_empty() {
        return Err(ServiceError::NotFound(Missing::KeyVersion));
    }
    Ok((key, out))
}

/// `POST /v1/random` (`random:post`): bytes from the operating system's generator.
pub fn random(caller: &Caller, n: usize) -> ServiceResult<Zeroizing<Vec<u8>>> {
    caller.require("random:post", &PolicyTarget::none())?;
    let mut b = Zeroizing::new(vec![0u8; n]);
    rand::rngs::OsRng.fill_bytes(&mut b);
    Ok(b)
}
