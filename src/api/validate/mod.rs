//! Request-body validators with Barbican's jsonschema-style messages (§2.3.2), one module per
//! schema; this module holds the rules they share.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::error::ApiError;
use super::http::{py_repr, py_str_repr};
use crate::model::{OCTET_STREAM, PKCS8, TEXT_PLAIN};

/// A property rule of a JSON schema, enough for Barbican's schemas.
pub enum Ty {
    Str,
    StrOrNull,
    Int,
}

pub struct Prop {
    pub name: &'static str,
    pub ty: Ty,
    pub max_len: Option<usize>,
    pub min_len: Option<usize>,
    pub range: Option<(i64, i64)>,
    pub one_of: Option<&'static [&'static str]>,
}

impl Prop {
    pub const fn new(name: &'static str, ty: Ty) -> Prop {
        Prop { name, ty, max_len: None, min_len: None, range: None, one_of: None }
    }
    pub const fn max(mut self, n: usize) -> Prop {
        self.max_len = Some(n);
        self
    }
    pub const fn range(mut self, lo: i64, hi: i64) -> Prop {
        self.range = Some((lo, hi));
        self
    }
    pub const fn one_of(mut self, v: &'static [&'static str]) -> Prop {
        self.one_of = Some(v);
        self
    }

    /// The jsonschema reason for this property's value, if it is invalid.
    pub fn check(&self, v: &Value) -> Option<String> {
        match (&self.ty, v) {
            (Ty::Str, Value::String(_)) | (Ty::StrOrNull, Value::String(_) | Value::Null) => {}
            (Ty::Str, _) => return Some(format!("{} is not of type 'string'", py_repr(v))),
            (Ty::StrOrNull, _) => return Some(format!("{} is not of type 'string', 'null'", py_repr(v))),
            (Ty::Int, Value::Number(n)) if n.is_i64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) => {}
            (Ty::Int, _) => return Some(format!("{} is not of type 'integer'", py_repr(v))),
        }
        if let Value::String(s) = v {
            let chars = s.chars().count();
            if self.max_len.is_some_and(|m| chars > m) {
                return Some(format!("{} is too long", py_str_repr(s)));
            }
            if self.min_len.is_some_and(|m| chars < m) {
                return Some(format!("{} should be non-empty", py_str_repr(s)));
            }
            if let Some(opts) = self.one_of {
                if !opts.contains(&s.as_str()) {
                    let list = opts.iter().map(|o| py_str_repr(o)).collect::<Vec<_>>().join(", ");
                    return Some(format!("{} is not one of [{list}]", py_str_repr(s)));
                }
            }
        }
        if let (Some((lo, hi)), Value::Number(n)) = (self.range, v) {
            let x = n.as_f64().unwrap_or(0.0);
            if x < lo as f64 {
                return Some(format!("{n} is less than the minimum of {lo}"));
            }
            if x > hi as f64 {
                return Some(format!("{n} is greater than the maximum of {hi}"));
            }
        }
        None
    }
}

/// Checks the root is an object and each listed property; returns the object.
pub fn check_object<'a>(schema: &str, v: &'a Value, props: &[Prop]) -> Result<&'a Map<String, Value>, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::schema(schema, &format!("{} is not of type 'object'", py_repr(v)), None))?;
    // Like jsonschema's `best_match` as Barbican sees it: of several property errors, the one
    // of the alphabetically greatest property is reported.
    let worst = props
        .iter()
        .filter_map(|p| obj.get(p.name).and_then(|val| p.check(val)).map(|r| (p.name, r)))
        .max_by(|a, b| a.0.cmp(b.0));
    match worst {
        Some((name, reason)) => Err(ApiError::schema(schema, &reason, Some(name))),
        None => Ok(obj),
    }
}

/// A root that must be an object with `required` properties (reported with property `None`),
/// then `props` checked.
pub fn object_with_required<'a>(
    schema: &str,
    v: &'a Value,
    required: &[&str],
    props: &[Prop],
) -> Result<&'a Map<String, Value>, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::schema(schema, &format!("{} is not of type 'object'", py_repr(v)), None))?;
    if let Some(missing) = required.iter().find(|k| !obj.contains_key(**k)) {
        return Err(ApiError::schema(schema, &format!("'{missing}' is a required property"), None));
    }
    check_object(schema, v, props)
}

/// Barbican's `normalize_content_type`.
pub fn normalize_content_type(mime: &str) -> String {
    let parts: Vec<&str> = mime.split(';').map(str::trim).collect();
    let base = parts[0].to_ascii_lowercase();
    if parts.len() > 1 {
        let cs = parts[1].to_ascii_lowercase();
        match cs.split_once('=') {
            None => return mime.to_string(),
            Some((_, v)) if v.trim() != "utf-8" => return mime.to_string(),
            _ => {}
        }
    }
    match base.as_str() {
        TEXT_PLAIN | OCTET_STREAM | PKCS8 | "application/aes" => base,
        _ => mime.to_string(),
    }
}

/// Python's lenient `base64.b64decode`: characters outside the alphabet are discarded, padding
/// must be right. The input is a payload: the filtered copy is wiped (its capacity is reserved
/// up front, so it never reallocates), and so is the result.
pub fn lenient_b64decode(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::engine::{general_purpose::GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    let mut filtered = Zeroizing::new(String::with_capacity(s.len()));
    filtered.extend(s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')));
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine.decode(filtered.as_bytes()).ok().map(Zeroizing::new)
}

/// Python's `base64.b64decode` of a JSON string: a `str` with any character outside ASCII is
/// refused (`ValueError: string argument should contain only ASCII characters`), the rest is
/// decoded leniently. (A PUT body is bytes, which Python decodes leniently whatever they hold.)
pub fn b64decode_text(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    if !s.is_ascii() {
        return None;
    }
    lenient_b64decode(s)
}


pub mod order;
pub mod quota;
pub mod secret;
pub mod transport_key;
pub use secret::*;

pub mod acl;
pub mod consumer;
pub mod container;
pub mod key;
