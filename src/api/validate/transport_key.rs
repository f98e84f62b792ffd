//! The `Transport Key` schema (§5.11).

use serde_json::Value;

use super::{check_object, Prop, Ty};
use crate::api::error::ApiError;

const SCHEMA: &str = "Transport Key";

static PROPS: [Prop; 2] = [Prop::new("plugin_name", Ty::Str), Prop::new("transport_key", Ty::Str)];

/// `NewTransportKeyValidator`: (plugin_name, transport_key), both non-empty once stripped.
pub fn transport_key_body(v: &Value) -> Result<(String, String), ApiError> {
    let obj = check_object(SCHEMA, v, &PROPS)?;
    let field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let plugin_name = field("plugin_name");
    if plugin_name.is_empty() {
        return Err(ApiError::schema(SCHEMA, "plugin_name must be provided", Some("plugin_name")));
    }
    let transport_key = field("transport_key");
    if transport_key.is_empty() {
        return Err(ApiError::schema(SCHEMA, "transport_key must be provided", Some("transport_key")));
    }
    Ok((plugin_name, transport_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        match transport_key_body(&v).unwrap_err().desc {
            crate::api::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    const P: &str = "Provided object does not match schema 'Transport Key': ";

    #[test]
    fn body_messages() {
        assert_eq!(msg(json!({})), format!("{P}plugin_name must be provided. Invalid property: 'plugin_name'"));
        assert_eq!(msg(json!({"plugin_name": "  "})), format!("{P}plugin_name must be provided. Invalid property: 'plugin_name'"));
        assert_eq!(msg(json!({"plugin_name": "p"})), format!("{P}transport_key must be provided. Invalid property: 'transport_key'"));
        assert_eq!(msg(json!({"plugin_name": 5})), format!("{P}5 is not of type 'string'. Invalid property: 'plugin_name'"));
        assert_eq!(
            msg(json!({"plugin_name": 5, "transport_key": []})),
            format!("{P}[] is not of type 'string'. Invalid property: 'transport_key'")
        );
        assert_eq!(msg(json!("x")), format!("{P}'x' is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(transport_key_body(&json!({"plugin_name": " p ", "transport_key": "k", "x": 1})).unwrap(), ("p".into(), "k".into()));
    }
}
