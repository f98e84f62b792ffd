//! The `Secret` schema (§5.2.2) and the user-metadata schemas (§5.3).

use serde_json::{Map, Value};

use super::{b64decode_text, check_object, normalize_content_type, Prop, Ty};
use crate::api::error::ApiError;
use crate::api::http::{parse_isotime, py_repr, py_str_repr};
use crate::model::{NewSecret, OCTET_STREAM, PKCS8, SECRET_TYPES, TEXT_PLAIN};

const SECRET_SCHEMA: &str = "Secret";

/// The reason given for an unsupported `payload_content_type` (secrets and order meta).
pub const SUPPORTED_CT: &str = "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']";

/// The `Secret` schema's properties (also applied to an order's `meta`).
pub static SECRET_PROPS: [Prop; 11] = [
    Prop::new("name", Ty::StrOrNull).max(255),
    Prop::new("algorithm", Ty::Str).max(255),
    Prop::new("mode", Ty::Str).max(255),
    Prop::new("bit_length", Ty::Int).range(1, 32767),
    Prop::new("expiration", Ty::Str).max(255),
    Prop::new("payload", Ty::Str),
    Prop::new("secret_type", Ty::Str).max(80).one_of(&SECRET_TYPES),
    Prop::new("payload_content_type", Ty::StrOrNull).max(255),
    Prop::new("payload_content_encoding", Ty::Str).max(255).one_of(&["base64"]),
    Prop::new("transport_key_needed", Ty::Str).one_of(&["true", "false"]),
    Prop::new("transport_key_id", Ty::Str),
];

/// A payload as sent: (normalised content type, plaintext bytes).
pub type SentPayload = (String, zeroize::Zeroizing<Vec<u8>>);

/// A validated `POST /v1/secrets` body: the new secret, and the transport-key fields the API
/// answers itself.
#[derive(Debug)]
pub struct NewSecretReq {
    pub secret: NewSecret,
    pub transport_key_needed: bool,
    pub transport_key_id: Option<String>,
}

pub fn secret_create(v: &Value, max_secret: usize, now: chrono::NaiveDateTime) -> Result<NewSecretReq, ApiError> {
    let obj = check_object(SECRET_SCHEMA, v, &SECRET_PROPS)?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let expiration = expiration(SECRET_SCHEMA, obj, now)?;
    let payload = payload(SECRET_SCHEMA, obj, max_secret)?;
    if payload.is_none() && obj.contains_key("payload_content_type") {
        return Err(ApiError::schema(
            SECRET_SCHEMA,
            "payload must be provided when payload_content_type is specified",
            Some("payload"),
        ));
    }
    Ok(NewSecretReq {
        secret: NewSecret {
            name: s("name"),
            algorithm: s("algorithm"),
            mode: s("mode"),
            bit_length: obj.get("bit_length").and_then(Value::as_f64).map(|f| f as i32),
            expiration,
            secret_type: s("secret_type").unwrap_or_else(|| "opaque".into()),
            payload,
        },
        transport_key_needed: s("transport_key_needed").as_deref() == Some("true"),
        transport_key_id: s("transport_key_id"),
    })
}

// ---- the Secret schema's rules, shared with an order's meta (reported under `schema`) --------

/// Whether a payload can be stored as this content type (once normalised).
pub fn supported_content_type(ct: &str) -> bool {
    matches!(normalize_content_type(ct).as_str(), TEXT_PLAIN | OCTET_STREAM | PKCS8)
}

/// `expiration`, when given and not empty: a date in the future.
pub fn expiration(
    schema: &str,
    obj: &Map<String, Value>,
    now: chrono::NaiveDateTime,
) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    let bad = |reason: &str| ApiError::schema(schema, reason, Some("expiration"));
    match obj.get("expiration").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        None => Ok(None),
        Some(e) => {
            let t = parse_isotime(e).ok_or_else(|| bad("Invalid date for 'expiration'"))?;
            if t <= now {
                return Err(bad("'expiration' is before current time"));
            }
            Ok(Some(t))
        }
    }
}

/// The payload rules, when a `payload` is given: its content type (required, supported), its
/// encoding, its size, not empty, then decoded. Returns (normalised content type, plaintext);
/// None without a payload.
pub fn payload(
    schema: &str,
    obj: &Map<String, Value>,
    max_secret: usize,
) -> Result<Option<SentPayload>, ApiError> {
    let Some(p) = obj.get("payload") else { return Ok(None) };
    let bad = |reason: &str, prop: &str| ApiError::schema(schema, reason, Some(prop));
    let p = p.as_str().unwrap_or_default();
    let ct = match obj.get("payload_content_type") {
        Some(Value::String(ct)) => ct,
        _ => {
            return Err(bad(
                "If 'payload' is supplied, 'payload_content_type' must also be supplied.",
                "payload_content_type",
            ))
        }
    };
    if !supported_content_type(ct) {
        return Err(bad(SUPPORTED_CT, "payload_content_type"));
    }
    let norm = normalize_content_type(ct);
    let enc = obj.get("payload_content_encoding").and_then(Value::as_str);
    if norm == TEXT_PLAIN {
        if enc.is_some() {
            return Err(bad("payload_content_encoding is not one of None", "payload_content_encoding"));
        }
    } else if enc != Some("base64") {
        return Err(bad("payload_content_encoding is not one of ['base64', 'binary']", "payload_content_encoding"));
    }
    if p.len() > max_secret {
        return Err(ApiError::bare(413, "Provided information too large to process"));
    }
    if p.is_empty() {
        return Err(bad("If 'payload' specified, must be non empty", "payload"));
    }
    let bytes = if norm == TEXT_PLAIN {
        zeroize::Zeroizing::new(p.as_bytes().to_vec())
    } else {
        b64decode_text(p).ok_or_else(|| bad("Invalid payload for payload_content_encoding", "payload"))?
    };
    Ok(Some((norm, bytes)))
}

/// Metadata keys: URL-safe characters only, stored lowercase.
pub fn metadata_key(k: &str) -> Result<String, ApiError> {
    if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(k.to_ascii_lowercase())
    } else {
        Err(ApiError::bare(400, "Invalid Key. Key must be URL safe."))
    }
}

/// `PUT …/metadata` body.
pub fn metadata_all(v: &Value) -> Result<Vec<(String, String)>, ApiError> {
    const SCHEMA: &str = "SecretMetadata";
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::schema(SCHEMA, &format!("{} is not of type 'object'", py_repr(v)), None))?;
    let m = obj.get("metadata").ok_or_else(|| {
        ApiError::schema(SCHEMA, "'metadata' is a required property", Some("metadata"))
    })?;
    let m = m.as_object().ok_or_else(|| {
        ApiError::schema(SCHEMA, &format!("{} is not of type 'object'", py_repr(m)), Some("metadata"))
    })?;
    let mut out = Vec::with_capacity(m.len());
    for (k, val) in m {
        let key = metadata_key(k)?;
        let Value::String(val) = val else {
            return Err(ApiError::bare(400, "Invalid Metadata. Keys and Values must be Strings."));
        };
        // The columns are 255 wide (as in Barbican), on every backend: jsonschema's maxLength.
        for s in [k, val] {
            if s.chars().count() > METADATA_MAX {
                let reason = format!("{} is too long", py_str_repr(s));
                return Err(ApiError::schema(SCHEMA, &reason, Some("metadata")));
            }
        }
        out.push((key, val.clone()));
    }
    // Keys that collide once lowercased: the last one wins, as with a dict.
    out.reverse();
    let mut seen = std::collections::HashSet::new();
    out.retain(|(k, _)| seen.insert(k.clone()));
    out.reverse();
    Ok(out)
}

const METADATA_MAX: usize = 255;

static METADATUM_PROPS: [Prop; 2] =
    [Prop::new("key", Ty::Str).max(METADATA_MAX), Prop::new("value", Ty::Str).max(METADATA_MAX)];

/// `POST …/metadata` and `PUT …/metadata/{key}` body: (lowercased key, value).
pub fn metadatum(v: &Value) -> Result<(String, String), ApiError> {
    const SCHEMA: &str = "SecretMetadatum";
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::schema(SCHEMA, &format!("{} is not of type 'object'", py_repr(v)), None))?;
    if let Some(extra) = obj.keys().find(|k| *k != "key" && *k != "value") {
        return Err(ApiError::schema(
            SCHEMA,
            &format!("Additional properties are not allowed ({} was unexpected)", py_str_repr(extra)),
            None,
        ));
    }
    // draft-03 per-property `required`: reported on the property, competing by name.
    for p in METADATUM_PROPS.iter().rev() {
        let reason = match obj.get(p.name) {
            None => Some(format!("'{}' is a required property", p.name)),
            Some(val) => p.check(val),
        };
        if let Some(r) = reason {
            return Err(ApiError::schema(SCHEMA, &r, Some(p.name)));
        }
    }
    let key = obj["key"].as_str().unwrap_or_default();
    let value = obj["value"].as_str().unwrap_or_default();
    Ok((metadata_key(key)?, value.to_string()))
}


#[cfg(test)]
mod tests {
    use super::*;
    use super::super::*;
    use serde_json::json;

    fn desc(e: ApiError) -> String {
        match e.desc {
            crate::api::error::Desc::Bare(m) => m,
            other => format!("{other:?}"),
        }
    }

    fn now() -> chrono::NaiveDateTime {
        crate::model::now()
    }

    #[test]
    fn content_type_normalisation() {
        assert_eq!(normalize_content_type("TEXT/PLAIN; charset=UTF-8"), "text/plain");
        assert_eq!(normalize_content_type("text/plain;charset=utf-8"), "text/plain");
        assert_eq!(normalize_content_type("text/plain; charset=iso-8859-1"), "text/plain; charset=iso-8859-1");
        assert_eq!(normalize_content_type("application/json"), "application/json");
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(lenient_b64decode("aGVs\nbG8=").unwrap().as_slice(), b"hello");
        assert_eq!(lenient_b64decode("aGVs*bG8=").unwrap().as_slice(), b"hello", "non-alphabet discarded");
        assert!(lenient_b64decode("aGVsbG8").is_none(), "bad padding");
        assert_eq!(b64decode_text("aGVs bG8=").unwrap().as_slice(), b"hello");
        assert!(b64decode_text("\u{80}").is_none(), "non-ASCII str");
        assert!(b64decode_text("aGVsbG8=\u{1111}\u{ffff}").is_none(), "non-ASCII str, even around valid base64");
    }

    #[test]
    fn secret_messages() {
        let m = |v: Value| desc(secret_create(&v, 20000, now()).unwrap_err());
        assert_eq!(m(json!([1, 2])), "Provided object does not match schema 'Secret': [1, 2] is not of type 'object'. Invalid property: 'None'");
        assert_eq!(m(json!({"name": 5})), "Provided object does not match schema 'Secret': 5 is not of type 'string', 'null'. Invalid property: 'name'");
        assert_eq!(m(json!({"bit_length": 0})), "Provided object does not match schema 'Secret': 0 is less than the minimum of 1. Invalid property: 'bit_length'");
        assert_eq!(m(json!({"bit_length": 40000})), "Provided object does not match schema 'Secret': 40000 is greater than the maximum of 32767. Invalid property: 'bit_length'");
        assert_eq!(m(json!({"secret_type": "foo"})), "Provided object does not match schema 'Secret': 'foo' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'");
        assert_eq!(m(json!({"expiration": "x"})), "Provided object does not match schema 'Secret': Invalid date for 'expiration'. Invalid property: 'expiration'");
        assert_eq!(m(json!({"expiration": "2001-01-01"})), "Provided object does not match schema 'Secret': 'expiration' is before current time. Invalid property: 'expiration'");
        assert_eq!(m(json!({"payload": "x"})), "Provided object does not match schema 'Secret': If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'");
        assert_eq!(m(json!({"payload": "x", "payload_content_type": "text/plain", "payload_content_encoding": "base64"})), "Provided object does not match schema 'Secret': payload_content_encoding is not one of None. Invalid property: 'payload_content_encoding'");
        assert_eq!(m(json!({"payload": "x", "payload_content_type": "application/octet-stream"})), "Provided object does not match schema 'Secret': payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'");
        assert_eq!(m(json!({"payload": "", "payload_content_type": "text/plain"})), "Provided object does not match schema 'Secret': If 'payload' specified, must be non empty. Invalid property: 'payload'");
        assert_eq!(m(json!({"payload_content_type": null})), "Provided object does not match schema 'Secret': payload must be provided when payload_content_type is specified. Invalid property: 'payload'");
        assert_eq!(m(json!({"payload": "abc", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})), "Provided object does not match schema 'Secret': Invalid payload for payload_content_encoding. Invalid property: 'payload'");
        let big = "a".repeat(20001);
        assert_eq!(m(json!({"payload": big, "payload_content_type": "text/plain"})), "Provided information too large to process");
    }

    #[test]
    fn metadata_messages() {
        assert_eq!(desc(metadatum(&json!({"key": "a"})).unwrap_err()), "Provided object does not match schema 'SecretMetadatum': 'value' is a required property. Invalid property: 'value'");
        assert_eq!(desc(metadatum(&json!({"key": "a", "value": "b", "z": 1})).unwrap_err()), "Provided object does not match schema 'SecretMetadatum': Additional properties are not allowed ('z' was unexpected). Invalid property: 'None'");
        assert_eq!(desc(metadatum(&json!({"key": "a b", "value": "b"})).unwrap_err()), "Invalid Key. Key must be URL safe.");
        assert_eq!(metadatum(&json!({"key": "AbC", "value": "V"})).unwrap(), ("abc".into(), "V".into()));
        assert_eq!(desc(metadata_all(&json!({})).unwrap_err()), "Provided object does not match schema 'SecretMetadata': 'metadata' is a required property. Invalid property: 'metadata'");
        assert_eq!(desc(metadata_all(&json!({"metadata": {"a": 1}})).unwrap_err()), "Invalid Metadata. Keys and Values must be Strings.");
        let long = "v".repeat(256);
        assert_eq!(desc(metadata_all(&json!({"metadata": {"a": long}})).unwrap_err()),
            format!("Provided object does not match schema 'SecretMetadata': '{long}' is too long. Invalid property: 'metadata'"));
        assert!(desc(metadata_all(&json!({"metadata": {long.clone(): "x"}})).unwrap_err()).contains("is too long"));
        assert_eq!(metadata_all(&json!({"metadata": {"a": "v".repeat(255)}})).unwrap().len(), 1);
    }
}
