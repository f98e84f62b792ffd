//! The `Order` schema (§5.8): the order's own properties, then the `Secret` schema and its rules
//! (from [`super::secret`]) on the meta, then the order rules.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::check_object;
use super::secret::{expiration, payload, supported_content_type, SECRET_PROPS, SUPPORTED_CT};
use crate::api::error::ApiError;
use crate::api::http::{py_repr, py_str_repr};
use crate::model::{NewOrder, OrderType, META_TS_FORMAT};

const ORDER_SCHEMA: &str = "Order";
/// The secret schema applied to an order's meta.
const META_SCHEMA: &str = "Secret' within 'Order";

/// Barbican's `TypeOrderValidator`: the draft-03 order schema, the secret schema on `meta`,
/// then the order rules. Returns the type and the meta to store (with `name` and `expiration`
/// normalised, everything else verbatim).
pub fn order_create(v: &Value, max_secret: usize, now: NaiveDateTime) -> Result<NewOrder, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::schema(ORDER_SCHEMA, &format!("{} is not of type 'object'", py_repr(v)), None))?;
    // Errors in schema order (meta, type); like jsonschema's best_match, a value of the wrong
    // type outranks the others, and otherwise the first one wins.
    let mut errors: Vec<(&str, String, bool)> = Vec::new();
    match obj.get("meta") {
        None => errors.push(("meta", "'meta' is a required property".into(), false)),
        Some(m) if !m.is_object() => errors.push(("meta", format!("{} is not of type 'object'", py_repr(m)), true)),
        Some(_) => {}
    }
    match obj.get("type") {
        None => errors.push(("type", "'type' is a required property".into(), false)),
        Some(Value::String(t)) if t != "key" && t != "asymmetric" => {
            errors.push(("type", format!("{} is not one of ['key', 'asymmetric']", py_str_repr(t)), false))
        }
        Some(Value::String(_)) => {}
        Some(t) => errors.push(("type", format!("{} is not of type 'string'", py_repr(t)), true)),
    }
    let best = errors.iter().find(|e| e.2).or_else(|| errors.first());
    if let Some((prop, reason, _)) = best {
        return Err(ApiError::schema(ORDER_SCHEMA, reason, Some(prop)));
    }
    let order_type = if obj["type"] == "key" { OrderType::Key } else { OrderType::Asymmetric };

    // The secret schema and its rules, with the order's allowance for a content type without
    // payload.
    let meta = check_object(META_SCHEMA, &obj["meta"], &SECRET_PROPS)?;
    let expiration = expiration(META_SCHEMA, meta, now)?;
    if payload(META_SCHEMA, meta, max_secret)?.is_none() {
        if let Some(Value::String(ct)) = meta.get("payload_content_type") {
            if !ct.is_empty() && !supported_content_type(ct) {
                return Err(ApiError::schema(META_SCHEMA, SUPPORTED_CT, Some("payload_content_type")));
            }
        }
    }

    // The order rules.
    let s = |k: &str| meta.get(k).and_then(Value::as_str);
    let rule = |reason: String| ApiError::schema(ORDER_SCHEMA, &reason, Some("meta"));
    let kind = match order_type {
        OrderType::Key => "key",
        OrderType::Asymmetric => "asymmetric key",
    };
    if meta.contains_key("payload") {
        let which = if order_type == OrderType::Key { "key" } else { "asymmetric" };
        return Err(rule(format!("'payload' not allowed for {which} type order")));
    }
    if s("algorithm").is_none_or(str::is_empty) {
        return Err(rule(format!("'algorithm' is required field for {kind} type order")));
    }
    let bits = meta.get("bit_length").and_then(Value::as_f64).unwrap_or(0.0);
    if bits == 0.0 {
        return Err(rule(format!("'bit_length' is required field for {kind} type order")));
    }
    if (bits as i64) % 8 != 0 {
        return Err(ApiError::bare(400, "Provided field value is not supported"));
    }

    let mut out: Map<String, Value> = meta.clone();
    out.insert("name".into(), s("name").map(|n| Value::String(n.to_string())).unwrap_or(Value::Null));
    out.insert(
        "expiration".into(),
        expiration.map(|t| Value::String(t.format(META_TS_FORMAT).to_string())).unwrap_or(Value::Null),
    );
    Ok(NewOrder { order_type, meta: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desc(e: ApiError) -> String {
        match e.desc {
            crate::api::error::Desc::Bare(m) => m,
            other => format!("{other:?}"),
        }
    }

    fn now() -> NaiveDateTime {
        chrono::Utc::now().naive_utc()
    }

    fn err(v: Value) -> String {
        desc(order_create(&v, 20000, now()).unwrap_err())
    }

    const O: &str = "Provided object does not match schema 'Order': ";
    const M: &str = "Provided object does not match schema 'Secret' within 'Order': ";

    #[test]
    fn order_schema() {
        assert_eq!(err(json!([1])), format!("{O}[1] is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(err(json!({})), format!("{O}'meta' is a required property. Invalid property: 'meta'"));
        assert_eq!(err(json!({"meta": {}})), format!("{O}'type' is a required property. Invalid property: 'type'"));
        assert_eq!(
            err(json!({"type": "certificate", "meta": {}})),
            format!("{O}'certificate' is not one of ['key', 'asymmetric']. Invalid property: 'type'")
        );
        assert_eq!(err(json!({"type": 5})), format!("{O}5 is not of type 'string'. Invalid property: 'type'"));
        assert_eq!(err(json!({"type": "key", "meta": [1]})), format!("{O}[1] is not of type 'object'. Invalid property: 'meta'"));
    }

    #[test]
    fn meta_rules() {
        let k = |m: Value| err(json!({"type": "key", "meta": m}));
        assert_eq!(k(json!({"bit_length": 0})), format!("{M}0 is less than the minimum of 1. Invalid property: 'bit_length'"));
        assert_eq!(k(json!({"algorithm": "aes"})), format!("{O}'bit_length' is required field for key type order. Invalid property: 'meta'"));
        assert_eq!(k(json!({"bit_length": 128})), format!("{O}'algorithm' is required field for key type order. Invalid property: 'meta'"));
        assert_eq!(
            err(json!({"type": "asymmetric", "meta": {"bit_length": 2048}})),
            format!("{O}'algorithm' is required field for asymmetric key type order. Invalid property: 'meta'")
        );
        assert_eq!(k(json!({"algorithm": "aes", "bit_length": 129})), "Provided field value is not supported");
        assert_eq!(
            k(json!({"algorithm": "aes", "bit_length": 128, "payload": "x", "payload_content_type": "text/plain"})),
            format!("{O}'payload' not allowed for key type order. Invalid property: 'meta'")
        );
        assert_eq!(
            k(json!({"algorithm": "aes", "bit_length": 128, "payload_content_type": "text/html"})),
            format!("{M}{SUPPORTED_CT}. Invalid property: 'payload_content_type'")
        );
        assert_eq!(
            k(json!({"algorithm": "aes", "bit_length": 128, "payload": "x"})),
            format!("{M}If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'")
        );
        assert_eq!(k(json!({"expiration": "2001-01-01"})), format!("{M}'expiration' is before current time. Invalid property: 'expiration'"));
        let o = order_create(
            &json!({"type": "key", "meta": {"algorithm": "AES", "bit_length": 256, "expiration": "2999-05-01T10:00:00+02:00", "x": 1}}),
            20000,
            now(),
        )
        .unwrap();
        assert_eq!(o.order_type, OrderType::Key);
        assert_eq!(
            Value::Object(o.meta),
            json!({"algorithm": "AES", "bit_length": 256, "expiration": "2999-05-01T08:00:00.000000", "name": null, "x": 1})
        );
    }
}
