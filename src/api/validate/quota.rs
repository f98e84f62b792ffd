//! The `Project Quota` schema (§5.9).

use serde_json::{Map, Value};

use super::{Prop, Ty};
use crate::api::error::ApiError;
use crate::api::http::{py_repr, py_str_repr};
use crate::model::QuotaOverrides;
use crate::service::quotas::RESOURCES;

const SCHEMA: &str = "Project Quota";
const BODY_KEY: &str = "project_quotas";

/// The `Project Quota` schema: `{"project_quotas": {<resource>: integer, ...}}`, nothing else at
/// either level. Errors are reported as jsonschema's `best_match` picks them: the shallowest
/// first; among inner values, the greatest key.
pub fn project_quota_body(v: &Value) -> Result<QuotaOverrides, ApiError> {
    let err = |reason: String, prop: Option<&str>| ApiError::schema(SCHEMA, &reason, prop);
    let not_object = |v: &Value| format!("{} is not of type 'object'", py_repr(v));
    let extras = |o: &Map<String, Value>, allowed: &[&str]| -> Option<String> {
        let extra: Vec<&String> = o.keys().filter(|k| !allowed.contains(&k.as_str())).collect();
        if extra.is_empty() {
            return None;
        }
        let verb = if extra.len() == 1 { "was" } else { "were" };
        let list = extra.iter().map(|k| py_str_repr(k)).collect::<Vec<_>>().join(", ");
        Some(format!("Additional properties are not allowed ({list} {verb} unexpected)"))
    };
    let root = v.as_object().ok_or_else(|| err(not_object(v), None))?;
    let Some(inner) = root.get(BODY_KEY) else {
        return Err(err(format!("'{BODY_KEY}' is a required property"), None));
    };
    if let Some(m) = extras(root, &[BODY_KEY]) {
        return Err(err(m, None));
    }
    let inner = inner.as_object().ok_or_else(|| err(not_object(inner), Some(BODY_KEY)))?;
    let names: Vec<&str> = RESOURCES.iter().map(|(_, n)| *n).collect();
    if let Some(m) = extras(inner, &names) {
        return Err(err(m, Some(BODY_KEY)));
    }
    // Values are stored in INTEGER columns: outside 32 bits is refused rather than failing in
    // the database.
    let int = Prop::new("", Ty::Int).range(i32::MIN as i64, i32::MAX as i64);
    if let Some(reason) =
        names.iter().filter_map(|n| inner.get(*n).and_then(|val| int.check(val)).map(|r| (*n, r))).max_by(|a, b| a.0.cmp(b.0)).map(|(_, r)| r)
    {
        return Err(err(reason, Some(BODY_KEY)));
    }
    let get = |n: &str| inner.get(n).and_then(Value::as_f64).map(|f| f as i32);
    Ok(QuotaOverrides {
        secrets: get("secrets"),
        orders: get("orders"),
        containers: get("containers"),
        consumers: get("consumers"),
        cas: get("cas"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        match project_quota_body(&v).unwrap_err().desc {
            crate::api::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    const P: &str = "Provided object does not match schema 'Project Quota': ";

    #[test]
    fn schema_messages() {
        assert_eq!(msg(json!({})), format!("{P}'project_quotas' is a required property. Invalid property: 'None'"));
        assert_eq!(msg(json!({"foo": 1})), format!("{P}'project_quotas' is a required property. Invalid property: 'None'"));
        assert_eq!(msg(json!([1])), format!("{P}[1] is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(
            msg(json!({"project_quotas": {}, "foo": 1})),
            format!("{P}Additional properties are not allowed ('foo' was unexpected). Invalid property: 'None'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"foo": 1}})),
            format!("{P}Additional properties are not allowed ('foo' was unexpected). Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"foo": 1, "bar": 2, "secrets": "x"}})),
            format!("{P}Additional properties are not allowed ('bar', 'foo' were unexpected). Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"secrets": "2"}})),
            format!("{P}'2' is not of type 'integer'. Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"cas": null, "orders": true}})),
            format!("{P}True is not of type 'integer'. Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"secrets": 1.5}})),
            format!("{P}1.5 is not of type 'integer'. Invalid property: 'project_quotas'")
        );
        assert_eq!(msg(json!({"project_quotas": 5})), format!("{P}5 is not of type 'object'. Invalid property: 'project_quotas'"));
        assert_eq!(
            msg(json!({"project_quotas": {"secrets": 4294967296i64}})),
            format!("{P}4294967296 is greater than the maximum of 2147483647. Invalid property: 'project_quotas'")
        );
    }

    #[test]
    fn values() {
        assert_eq!(project_quota_body(&json!({"project_quotas": {}})).unwrap(), QuotaOverrides::default());
        let u = project_quota_body(&json!({"project_quotas": {"secrets": 3, "cas": -7, "orders": 2.0}})).unwrap();
        assert_eq!(u, QuotaOverrides { secrets: Some(3), orders: Some(2), containers: None, consumers: None, cas: Some(-7) });
    }
}
