//! The `Container` schema (§5.5) and the `ContainerSecret` body of `…/containers/{id}/secrets`.

use std::collections::HashSet;

use serde_json::Value;

use super::{object_with_required, Prop, Ty};
use crate::api::error::ApiError;
use crate::api::http::py_repr;
use crate::service::containers::{LinkReq, NewContainerReq};

const CONTAINER_SCHEMA: &str = "Container";
const CONTAINER_TYPES: [&str; 3] = ["generic", "rsa", "certificate"];

static NAME_PROP: Prop = Prop::new("name", Ty::StrOrNull).max(255);
static TYPE_PROP: Prop = Prop::new("type", Ty::Str).one_of(&CONTAINER_TYPES);
static REF_PROPS: [Prop; 2] = [
    Prop::new("name", Ty::StrOrNull).max(255),
    Prop { min_len: Some(1), ..Prop::new("secret_ref", Ty::Str) },
];

/// Of several errors at one depth, the one of the alphabetically greatest property wins (as in
/// [`super::check_object`]).
fn worst(errs: Vec<(&'static str, String)>) -> Option<(&'static str, String)> {
    errs.into_iter().max_by(|a, b| a.0.cmp(b.0))
}

/// The secret id in a `secret_ref`, as Barbican's container validator and model take it: the
/// last path segment, a trailing `/` tolerated.
pub fn secret_id_from_ref(r: &str) -> String {
    if r.ends_with('/') {
        let mut parts: Vec<&str> = r.rsplitn(3, '/').collect();
        parts.reverse();
        parts.get(1).copied().unwrap_or("").to_string()
    } else {
        r.rsplit('/').next().unwrap_or(r).to_string()
    }
}

/// The `POST /v1/containers` body (schema `Container` and the container validator's rules).
/// `base` is the prefix every `secret_ref` must start with.
pub fn container_body(v: &Value, base: &str) -> Result<NewContainerReq, ApiError> {
    let bad = |reason: &str, prop: Option<&str>| ApiError::schema(CONTAINER_SCHEMA, reason, prop);
    let obj = object_with_required(CONTAINER_SCHEMA, v, &["type"], &[])?;

    // Properties of the root, then (deeper, so less relevant) the items of `secret_refs`.
    let mut errs = Vec::new();
    if let Some(r) = obj.get("name").and_then(|x| NAME_PROP.check(x)) {
        errs.push(("name", r));
    }
    if let Some(r) = obj.get("type").and_then(|x| TYPE_PROP.check(x)) {
        errs.push(("type", r));
    }
    if let Some(x) = obj.get("secret_refs").filter(|x| !x.is_array()) {
        errs.push(("secret_refs", format!("{} is not of type 'array'", py_repr(x))));
    }
    if let Some((prop, reason)) = worst(errs) {
        return Err(bad(&reason, Some(prop)));
    }
    let items: &[Value] = obj.get("secret_refs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for it in items {
        match it.as_object() {
            None => return Err(bad(&format!("{} is not of type 'object'", py_repr(it)), Some("secret_refs"))),
            Some(o) if !o.contains_key("secret_ref") => {
                return Err(bad("'secret_ref' is a required property", Some("secret_refs")))
            }
            Some(_) => {}
        }
    }
    for it in items {
        let o = it.as_object().expect("checked above");
        let errs = REF_PROPS.iter().filter_map(|p| o.get(p.name).and_then(|x| p.check(x)).map(|r| (p.name, r))).collect();
        if let Some((_, reason)) = worst(errs) {
            return Err(bad(&reason, Some("secret_refs")));
        }
    }

    let container_type = obj["type"].as_str().unwrap_or_default().to_string();
    let name = obj.get("name").and_then(Value::as_str).map(str::to_string);
    let mut refs = Vec::with_capacity(items.len());
    if !items.is_empty() {
        // Names as Barbican's set sees them: absent is '', null is None.
        let names: Vec<Option<&str>> = items
            .iter()
            .map(|it| match it.get("name") {
                None => Some(""),
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => None,
            })
            .collect();
        let name_set: HashSet<Option<&str>> = names.iter().copied().collect();
        if name_set.len() != items.len() {
            return Err(bad("Duplicate reference names are not allowed", Some("secret_refs")));
        }
        let ref_strs: Vec<&str> = items.iter().map(|it| it["secret_ref"].as_str().unwrap_or_default()).collect();
        let ids: Vec<String> = ref_strs.iter().map(|r| secret_id_from_ref(r)).collect();
        if ids.iter().collect::<HashSet<_>>().len() != items.len() {
            return Err(bad("Duplicate secret ids are not allowed", Some("secret_refs")));
        }
        if ref_strs.iter().any(|r| !r.starts_with(base)) {
            return Err(ApiError::bare(400, "Provided field value is not supported"));
        }
        let check = |allowed: &[&str], required: &[&str], unsupported: &str, minimum: &str| {
            if name_set.iter().any(|n| !n.is_some_and(|n| allowed.contains(&n))) {
                return Err(bad(unsupported, Some("secret_refs")));
            }
            if required.iter().any(|r| !name_set.contains(&Some(*r))) {
                return Err(bad(minimum, Some("secret_refs")));
            }
            Ok(())
        };
        match container_type.as_str() {
            "rsa" => check(
                &["public_key", "private_key", "private_key_passphrase"],
                &["public_key", "private_key"],
                "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
                "The minimum required reference names are 'public_key' and'private_key' for RSA type",
            )?,
            "certificate" => check(
                &["certificate", "private_key", "private_key_passphrase", "intermediates"],
                &["certificate"],
                "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type",
                "The minimum required reference name is 'certificate' for Certificate type",
            )?,
            _ => {}
        }
        for (it, id) in items.iter().zip(ids) {
            // The stored link name: absent or null is null.
            refs.push((it.get("name").and_then(Value::as_str).map(str::to_string), id));
        }
    }
    Ok(NewContainerReq { name, container_type, refs })
}

static CONTAINER_SECRET_PROPS: [Prop; 2] = [
    Prop::new("name", Ty::Str).max(255),
    Prop { min_len: Some(1), ..Prop::new("secret_ref", Ty::Str) },
];

/// The `ContainerSecret` body of `…/containers/{id}/secrets`: the link's name, the
/// `secret_ref` as given and the secret id in it (its last path segment).
pub fn container_secret_body(v: &Value) -> Result<LinkReq, ApiError> {
    let obj = object_with_required("ContainerSecret", v, &["secret_ref"], &CONTAINER_SECRET_PROPS)?;
    let secret_ref = obj["secret_ref"].as_str().unwrap_or_default().to_string();
    Ok(LinkReq {
        name: obj.get("name").and_then(Value::as_str).map(str::to_string),
        secret_id: last_segment(&secret_ref).to_string(),
        secret_ref,
    })
}

/// The secret id of a `secret_ref` given to `…/containers/{id}/secrets` (last path segment).
fn last_segment(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "http://h:9311";

    fn msg(v: Value) -> String {
        match container_body(&v, BASE).unwrap_err().desc {
            crate::api::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    fn r(id: &str) -> String {
        format!("{BASE}/v1/secrets/{id}")
    }

    #[test]
    fn secret_ids_from_refs() {
        assert_eq!(secret_id_from_ref("http://h/v1/secrets/abc"), "abc");
        assert_eq!(secret_id_from_ref("http://h/v1/secrets/abc/"), "abc");
        assert_eq!(secret_id_from_ref("abc"), "abc");
        assert_eq!(secret_id_from_ref("abc/"), "");
    }

    #[test]
    fn container_messages() {
        let p = "Provided object does not match schema 'Container': ";
        assert_eq!(msg(json!([])), format!("{p}[] is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(msg(json!({"name": "x"})), format!("{p}'type' is a required property. Invalid property: 'None'"));
        assert_eq!(msg(json!({"type": "dsa"})), format!("{p}'dsa' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'"));
        assert_eq!(msg(json!({"type": "generic", "name": 5})), format!("{p}5 is not of type 'string', 'null'. Invalid property: 'name'"));
        assert_eq!(msg(json!({"type": "generic", "secret_refs": "x"})), format!("{p}'x' is not of type 'array'. Invalid property: 'secret_refs'"));
        assert_eq!(msg(json!({"type": "generic", "secret_refs": [{"name": "a"}]})), format!("{p}'secret_ref' is a required property. Invalid property: 'secret_refs'"));
        assert_eq!(msg(json!({"type": "generic", "secret_refs": [{"secret_ref": ""}]})), format!("{p}'' should be non-empty. Invalid property: 'secret_refs'"));
        assert_eq!(
            msg(json!({"type": "generic", "secret_refs": [{"secret_ref": r("a")}, {"secret_ref": r("b")}]})),
            format!("{p}Duplicate reference names are not allowed. Invalid property: 'secret_refs'")
        );
        assert_eq!(
            msg(json!({"type": "generic", "secret_refs": [{"name": "x", "secret_ref": r("a")}, {"name": "y", "secret_ref": r("a/")}]})),
            format!("{p}Duplicate secret ids are not allowed. Invalid property: 'secret_refs'")
        );
        assert_eq!(msg(json!({"type": "generic", "secret_refs": [{"name": "x", "secret_ref": "a"}]})), "Provided field value is not supported");
        assert_eq!(
            msg(json!({"type": "rsa", "secret_refs": [{"name": "public_key", "secret_ref": r("a")}]})),
            format!("{p}The minimum required reference names are 'public_key' and'private_key' for RSA type. Invalid property: 'secret_refs'")
        );
        assert_eq!(
            msg(json!({"type": "certificate", "secret_refs": [{"name": "x", "secret_ref": r("a")}]})),
            format!("{p}only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type. Invalid property: 'secret_refs'")
        );
        // An absent and a null name differ; two nulls collide.
        let ok = container_body(&json!({"type": "generic", "secret_refs": [{"secret_ref": r("a")}, {"name": null, "secret_ref": r("b")}]}), BASE).unwrap();
        assert_eq!(ok.refs, vec![(None, "a".to_string()), (None, "b".to_string())]);
        assert!(container_body(&json!({"type": "rsa", "secret_refs": []}), BASE).unwrap().refs.is_empty());
    }
}
