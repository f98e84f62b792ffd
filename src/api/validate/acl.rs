//! The `ACL` schema (§5.7).

use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::http::{py_repr, py_str_repr};
use crate::model::AclChange;

/// The `ACL` schema: `{"read": {"users": [str…], "project-access": bool}}`, nothing else.
pub fn parse_acl_body(v: &Value) -> Result<Vec<AclChange>, ApiError> {
    const SCHEMA: &str = "ACL";
    let err = |reason: String, prop: Option<&str>| ApiError::schema(SCHEMA, &reason, prop);
    let obj = v.as_object().ok_or_else(|| err(format!("{} is not of type 'object'", py_repr(v)), None))?;
    if let Some(k) = obj.keys().find(|k| *k != "read") {
        return Err(err(format!("Additional properties are not allowed ({} was unexpected)", py_str_repr(k)), None));
    }
    let mut out = Vec::new();
    for (op, body) in obj {
        let b = body.as_object().ok_or_else(|| err(format!("{} is not of type 'object'", py_repr(body)), Some(op)))?;
        if let Some(k) = b.keys().find(|k| *k != "users" && *k != "project-access") {
            return Err(err(format!("Additional properties are not allowed ({} was unexpected)", py_str_repr(k)), Some(op)));
        }
        let users = match b.get("users") {
            None => None,
            Some(Value::Array(items)) => {
                // Barbican's schema types only the first item (a QUIRK we keep stricter: all).
                let mut users = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::String(s) if s.chars().count() <= 255 => users.push(s.clone()),
                        Value::String(s) => return Err(err(format!("{} is too long", py_str_repr(s)), Some(op))),
                        other => return Err(err(format!("{} is not of type 'string'", py_repr(other)), Some(op))),
                    }
                }
                Some(users)
            }
            Some(other) => return Err(err(format!("{} is not of type 'array'", py_repr(other)), Some(op))),
        };
        let project_access = match b.get("project-access") {
            None => None,
            Some(Value::Bool(x)) => Some(*x),
            Some(other) => return Err(err(format!("{} is not of type 'boolean'", py_repr(other)), Some(op))),
        };
        if b.is_empty() {
            continue; // `"read": {}` means back to the default
        }
        out.push(AclChange { operation: op.clone(), project_access, users });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        match parse_acl_body(&v).unwrap_err().desc {
            crate::api::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    #[test]
    fn acl_schema_messages() {
        assert_eq!(msg(json!({"write": {}})), "Provided object does not match schema 'ACL': Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'");
        assert_eq!(msg(json!({"read": {"users": "u2"}})), "Provided object does not match schema 'ACL': 'u2' is not of type 'array'. Invalid property: 'read'");
        assert_eq!(msg(json!({"read": {"project-access": "false"}})), "Provided object does not match schema 'ACL': 'false' is not of type 'boolean'. Invalid property: 'read'");
        let ok = parse_acl_body(&json!({"read": {"users": ["a", "b"]}})).unwrap();
        assert_eq!(ok[0].users.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert!(parse_acl_body(&json!({"read": {}})).unwrap().is_empty());
    }
}
