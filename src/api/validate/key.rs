//! Bodies of the managed-key routes (`/v1/keys`, a Portcullis extension): every property is
//! checked by name and type, unknown properties are refused, and base64 must be standard.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::api::error::ApiError;
use crate::crypto::managed::{Hash, KeyType, Op, RsaScheme, SignParams};
use crate::model::managed_key::{Grant, Identity, KeyUpdate, NewKey, Sensitivity};
use crate::service::keys::ops::Item;

/// At most this many items in one `batch_input`.
pub const MAX_BATCH: usize = 10_000;
const MAX_GRANTS: usize = 256;
const MAX_NAME: usize = 255;
/// Longest auto-rotation period: ten years.
const MAX_PERIOD: i64 = 10 * 366 * 24 * 3600;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bare(400, msg)
}

fn object(v: &Value) -> Result<&Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| bad("The request body must be a JSON object."))
}

fn only(m: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!("Unknown property '{k}'; allowed: {}.", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn string<'a>(m: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("'{k}' must be a string."))),
    }
}

fn boolean(m: &Map<String, Value>, k: &str) -> Result<Option<bool>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("'{k}' must be true or false."))),
    }
}

fn int(m: &Map<String, Value>, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            _ => Err(bad(format!("'{k}' must be an integer from {lo} to {hi}."))),
        },
    }
}

fn b64(m: &Map<String, Value>, k: &str) -> Result<Option<Vec<u8>>, ApiError> {
    string(m, k)?
        .map(|s| B64.decode(s).map_err(|_| bad(format!("'{k}' must be standard base64."))))
        .transpose()
}

fn required_b64(m: &Map<String, Value>, k: &str) -> Result<Vec<u8>, ApiError> {
    b64(m, k)?.ok_or_else(|| bad(format!("'{k}' is required.")))
}

fn required_str(m: &Map<String, Value>, k: &str) -> Result<String, ApiError> {
    string(m, k)?.map(str::to_string).ok_or_else(|| bad(format!("'{k}' is required.")))
}

fn name(m: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match string(m, "name")? {
        Some(n) if n.is_empty() || n.len() > MAX_NAME => Err(bad(format!("'name' must have 1 to {MAX_NAME} characters."))),
        n => Ok(n.map(str::to_string)),
    }
}

fn period(m: &Map<String, Value>) -> Result<Option<Option<i64>>, ApiError> {
    Ok(int(m, "auto_rotate_period", 0, MAX_PERIOD)?.map(|s| (s > 0).then_some(s)))
}

fn sensitivity(m: &Map<String, Value>) -> Result<Option<Sensitivity>, ApiError> {
    string(m, "sensitivity")?
        .map(|s| Sensitivity::parse(s).ok_or_else(|| bad("'sensitivity' must be one of low, medium, high.")))
        .transpose()
}

/// `POST /v1/keys`.
pub fn new_key(v: &Value) -> Result<NewKey, ApiError> {
    let m = object(v)?;
    only(m, &["name", "type", "sensitivity", "exportable", "auto_rotate_period", "policy"])?;
    let kt = string(m, "type")?.ok_or_else(|| bad("'type' is required."))?;
    let key_type = KeyType::parse(kt).ok_or_else(|| {
        let all: Vec<&str> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
        bad(format!("'type' must be one of {}.", all.join(", ")))
    })?;
    Ok(NewKey {
        name: name(m)?.ok_or_else(|| bad("'name' is required."))?,
        key_type,
        sensitivity: sensitivity(m)?.unwrap_or(Sensitivity::Medium),
        exportable: boolean(m, "exportable")?.unwrap_or(false),
        auto_rotate_seconds: period(m)?.flatten(),
        grants: match m.get("policy") {
            None | Some(Value::Null) => Vec::new(),
            Some(p) => policy(p)?,
        },
    })
}

/// `PUT /v1/keys/{id}`: only the properties present change.
pub fn key_update(v: &Value) -> Result<KeyUpdate, ApiError> {
    let m = object(v)?;
    only(m, &["name", "sensitivity", "exportable", "deletion_allowed", "min_decryption_version", "min_encryption_version", "auto_rotate_period"])?;
    let version = |k| int(m, k, 0, i32::MAX as i64).map(|o| o.map(|n| n as i32));
    Ok(KeyUpdate {
        name: name(m)?,
        sensitivity: sensitivity(m)?,
        exportable: boolean(m, "exportable")?,
        deletion_allowed: boolean(m, "deletion_allowed")?,
        min_decryption_version: version("min_decryption_version")?,
        min_encryption_version: version("min_encryption_version")?,
        auto_rotate_seconds: period(m)?,
    })
}

fn identity(v: &Value) -> Result<Identity, ApiError> {
    let id: Identity = serde_json::from_value(v.clone()).map_err(|e| {
        bad(format!("A grant's identity is invalid ({e}); types: user{{id}}, project{{id}}, role{{name}}, oidc{{issuer, subject}}, oidc_group{{issuer, group}}, cert{{subject | san | fingerprint_sha256}}."))
    })?;
    let empty = match &id {
        Identity::User { id } | Identity::Project { id } => id.is_empty(),
        Identity::Role { name } => name.is_empty(),
        Identity::Oidc { issuer, subject } => issuer.is_empty() || subject.is_empty(),
        Identity::OidcGroup { issuer, group } => issuer.is_empty() || group.is_empty(),
        Identity::Cert { subject, san, fingerprint_sha256 } => {
            [subject, san, fingerprint_sha256].iter().filter(|x| x.as_ref().is_some_and(|s| !s.is_empty())).count() != 1
        }
    };
    if empty {
        return Err(bad("A grant's identity needs non-empty values (a cert identity exactly one of subject, san, fingerprint_sha256)."));
    }
    Ok(id)
}

/// A key policy: `{"grants": [{"identity": {...}, "operations": ["encrypt", ...]}]}`.
pub fn policy(v: &Value) -> Result<Vec<Grant>, ApiError> {
    let m = object(v)?;
    only(m, &["grants"])?;
    let list = m.get("grants").and_then(Value::as_array).ok_or_else(|| bad("'grants' must be a list."))?;
    if list.len() > MAX_GRANTS {
        return Err(bad(format!("A key policy holds at most {MAX_GRANTS} grants.")));
    }
    list.iter()
        .map(|g| {
            let g = object(g)?;
            only(g, &["identity", "operations"])?;
            let identity = identity(g.get("identity").ok_or_else(|| bad("A grant needs an 'identity'."))?)?;
            let ops = g.get("operations").and_then(Value::as_array).ok_or_else(|| bad("A grant needs a list of 'operations'."))?;
            let operations = ops
                .iter()
                .map(|o| {
                    o.as_str().and_then(Op::parse).ok_or_else(|| {
                        let all: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
                        bad(format!("Unknown operation {o}; operations: {}.", all.join(", ")))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Grant { identity, operations })
        })
        .collect()
}

/// The items of an operation: the body itself, or each element of its `batch_input`.
/// Returns the items and whether the request was a batch.
pub fn items(op: Op, v: &Value, datakey_plaintext: bool) -> Result<(Vec<Item>, bool), ApiError> {
    let m = object(v)?;
    if let Some(batch) = m.get("batch_input") {
        only(m, &["batch_input"])?;
        let list = batch.as_array().ok_or_else(|| bad("'batch_input' must be a list."))?;
        if list.is_empty() || list.len() > MAX_BATCH {
            return Err(bad(format!("'batch_input' must hold 1 to {MAX_BATCH} items.")));
        }
        let items = list.iter().map(|i| item(op, object(i)?, datakey_plaintext)).collect::<Result<Vec<_>, _>>()?;
        return Ok((items, true));
    }
    Ok((vec![item(op, m, datakey_plaintext)?], false))
}

fn sign_params(m: &Map<String, Value>) -> Result<SignParams, ApiError> {
    Ok(SignParams {
        hash: string(m, "hash_algorithm")?
            .map(|h| Hash::parse(h).ok_or_else(|| bad("'hash_algorithm' must be sha2-256, sha2-384 or sha2-512.")))
            .transpose()?,
        prehashed: boolean(m, "prehashed")?.unwrap_or(false),
        scheme: string(m, "signature_algorithm")?
            .map(|s| RsaScheme::parse(s).ok_or_else(|| bad("'signature_algorithm' must be pss or pkcs1v15.")))
            .transpose()?,
    })
}

fn item(op: Op, m: &Map<String, Value>, datakey_plaintext: bool) -> Result<Item, ApiError> {
    const SIGN: &[&str] = &["input", "hash_algorithm", "prehashed", "signature_algorithm"];
    Ok(match op {
        Op::Encrypt => {
            only(m, &["plaintext", "associated_data", "key_version"])?;
            Item::Encrypt {
                plaintext: Zeroizing::new(required_b64(m, "plaintext")?),
                aad: b64(m, "associated_data")?,
                version: int(m, "key_version", 1, i32::MAX as i64)?.map(|n| n as i32),
            }
        }
        Op::Decrypt | Op::Rewrap => {
            only(m, &["ciphertext", "associated_data"])?;
            let (ciphertext, aad) = (required_str(m, "ciphertext")?, b64(m, "associated_data")?);
            if op == Op::Decrypt { Item::Decrypt { ciphertext, aad } } else { Item::Rewrap { ciphertext, aad } }
        }
        Op::Datakey => {
            only(m, &["bits", "associated_data"])?;
            let bits = int(m, "bits", 128, 512)?.unwrap_or(256);
            if ![128, 256, 512].contains(&bits) {
                return Err(bad("'bits' must be 128, 256 or 512."));
            }
            Item::Datakey { bytes: bits as usize / 8, aad: b64(m, "associated_data")?, with_plaintext: datakey_plaintext }
        }
        Op::Sign => {
            only(m, SIGN)?;
            Item::Sign { input: required_b64(m, "input")?, params: sign_params(m)? }
        }
        Op::Verify => {
            only(m, &[SIGN, &["signature", "hmac"]].concat())?;
            let input = required_b64(m, "input")?;
            match (string(m, "signature")?, string(m, "hmac")?) {
                (Some(s), None) => Item::Verify { input, signature: s.to_string(), params: sign_params(m)? },
                (None, Some(h)) => Item::HmacVerify { input, hmac: h.to_string() },
                _ => return Err(bad("Give exactly one of 'signature' and 'hmac'.")),
            }
        }
        Op::Hmac => {
            only(m, &["input"])?;
            Item::Hmac { input: required_b64(m, "input")? }
        }
        _ => return Err(bad("Not an operation with items.")),
    })
}
