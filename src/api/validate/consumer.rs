//! The `Secret Consumer` (§5.4) and container `Consumer` (§5.6) schemas.

use serde_json::Value;

use super::{object_with_required, Prop, Ty};
use crate::api::error::ApiError;
use crate::model::SecretConsumerKey;

static SECRET_CONSUMER_PROPS: [Prop; 3] = [
    Prop { min_len: Some(1), ..Prop::new("service", Ty::Str).max(255) },
    Prop { min_len: Some(1), ..Prop::new("resource_type", Ty::Str).max(255) },
    // Barbican sets no maximum, but its column holds 36 characters (longer ids only fit on
    // SQLite); a clear 400 instead of a database error.
    Prop { min_len: Some(1), ..Prop::new("resource_id", Ty::Str).max(36) },
];

/// The `Secret Consumer` body.
pub fn secret_consumer_body(v: &Value) -> Result<SecretConsumerKey, ApiError> {
    let obj = object_with_required(
        "Secret Consumer",
        v,
        &["service", "resource_type", "resource_id"],
        &SECRET_CONSUMER_PROPS,
    )?;
    let s = |k: &str| obj[k].as_str().unwrap_or_default().to_string();
    Ok(SecretConsumerKey { service: s("service"), resource_type: s("resource_type"), resource_id: s("resource_id") })
}

static CONTAINER_CONSUMER_PROPS: [Prop; 2] = [
    Prop { min_len: Some(1), ..Prop::new("URL", Ty::Str).max(255) },
    Prop { min_len: Some(1), ..Prop::new("name", Ty::Str).max(36) },
];

/// The `Consumer` body of container consumers: (name, URL).
pub fn container_consumer_body(v: &Value) -> Result<(String, String), ApiError> {
    let obj = object_with_required("Consumer", v, &["name", "URL"], &CONTAINER_CONSUMER_PROPS)?;
    Ok((obj["name"].as_str().unwrap_or_default().to_string(), obj["URL"].as_str().unwrap_or_default().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(e: ApiError) -> String {
        match e.desc {
            crate::api::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    #[test]
    fn consumer_messages() {
        let p = "Provided object does not match schema 'Secret Consumer': ";
        assert_eq!(
            msg(secret_consumer_body(&json!({"service": "a", "resource_id": "b"})).unwrap_err()),
            format!("{p}'resource_type' is a required property. Invalid property: 'None'")
        );
        assert_eq!(
            msg(secret_consumer_body(&json!({"service": "", "resource_type": "t", "resource_id": "b"})).unwrap_err()),
            format!("{p}'' should be non-empty. Invalid property: 'service'")
        );
        assert_eq!(
            msg(container_consumer_body(&json!({"name": "a"})).unwrap_err()),
            "Provided object does not match schema 'Consumer': 'URL' is a required property. Invalid property: 'None'"
        );
        assert_eq!(
            msg(container_consumer_body(&json!({"name": "a".repeat(37), "URL": "u"})).unwrap_err()),
            format!("Provided object does not match schema 'Consumer': '{}' is too long. Invalid property: 'name'", "a".repeat(37))
        );
        assert_eq!(container_consumer_body(&json!({"name": "n", "URL": "u"})).unwrap(), ("n".into(), "u".into()));
    }
}
