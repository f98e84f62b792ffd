//! `/v1/orders` (§5.8): key and asymmetric orders, processed PENDING → ACTIVE / ERROR.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, json_body, page, paged_body, parse_isotime, py_repr, py_str_repr, query_get, query_pairs,
    require_json_accept, require_json_content_type,
};
use super::secrets::{ctx, enforce};
use super::validate::{b64decode_text, check_object, normalize_content_type, SECRET_PROPS, SUPPORTED_CT};
use super::AppState;
use crate::model::{OCTET_STREAM, PKCS8, TEXT_PLAIN};
use crate::policy::PolicyTarget;
use crate::service::orders::{self as svc, NewOrder, OrderType, META_TS_FORMAT};
use crate::store::orders::OrderRow;
use crate::store::now;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/orders", "/orders/"])
            .route(web::get().to(list))
            .route(web::post().to(create))
            .route(web::put().to(put_collection))
            .default_service(web::to(|| super::not_allowed("GET, POST, PUT"))),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get))
            .route(web::delete().to(delete))
            .default_service(web::to(|req, st| not_allowed(req, st, "DELETE, GET"))),
    )
    .service(web::resource("/orders/{id}/{rest:.*}").default_service(web::to(unknown_subpath)));
}

/// The project-scoped look-up that precedes everything else on `/orders/{id}` (§2.3.4).
async fn load(st: &AppState, req: &HttpRequest, id: &str) -> Result<OrderRow, ApiError> {
    let project = ctx(req)?.project().to_string();
    let id = id.to_string();
    st.run(move |core| svc::get(core, &id, &project)).await
}

async fn not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    match load(&st, &req, &id).await {
        Ok(_) => ApiError::method_not_allowed(allow).render(""),
        Err(e) => e.render(""),
    }
}

async fn unknown_subpath(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    match load(&st, &req, &id).await {
        Ok(_) => ApiError::not_found_route().render(""),
        Err(e) => e.render(""),
    }
}

/// The order representation (§5.8): optional keys only when set.
pub fn order_json(o: &OrderRow, base: &str) -> Value {
    let mut m = Map::new();
    m.insert("created".into(), Value::String(fmt_ts(&o.created())));
    m.insert("updated".into(), Value::String(fmt_ts(&o.updated())));
    m.insert("status".into(), Value::String(o.status.clone()));
    m.insert("type".into(), Value::String(o.order_type.clone()));
    let meta = serde_json::from_str::<Value>(&o.meta).unwrap_or_else(|_| Value::Object(Map::new()));
    m.insert("meta".into(), meta);
    let mut opt = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            m.insert(k.into(), Value::String(v.clone()));
        }
    };
    opt("sub_status", &o.sub_status);
    opt("sub_status_message", &o.sub_status_message);
    opt("error_status_code", &o.error_status_code);
    opt("error_reason", &o.error_reason);
    opt("creator_id", &o.creator_id);
    if let Some(s) = &o.secret_id {
        m.insert("secret_ref".into(), Value::String(format!("{base}/v1/secrets/{s}")));
    }
    if let Some(c) = &o.container_id {
        m.insert("container_ref".into(), Value::String(format!("{base}/v1/containers/{c}")));
    }
    m.insert("order_ref".into(), Value::String(format!("{base}/v1/orders/{}", o.id)));
    Value::Object(m)
}

// ---- validation ------------------------------------------------------------------------------

const ORDER_SCHEMA: &str = "Order";
/// The secret schema applied to an order's meta.
const META_SCHEMA: &str = "Secret' within 'Order";



fn supported_content_type(ct: &str) -> bool {
    matches!(normalize_content_type(ct).as_str(), TEXT_PLAIN | OCTET_STREAM | PKCS8)
}

/// Barbican's `TypeOrderValidator`: the draft-03 order schema, the secret schema on `meta`,
/// then the order rules. Returns the type and the meta to store (with `name` and `expiration`
/// normalised, everything else verbatim).
pub fn validate_order(
    v: &Value,
    max_secret: usize,
    now: chrono::NaiveDateTime,
) -> Result<(OrderType, Map<String, Value>), ApiError> {
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
    let meta_v = &obj["meta"];

    // The secret schema, with the order's allowance for a content type without payload.
    let meta = check_object(META_SCHEMA, meta_v, &SECRET_PROPS)?;
    let bad = |reason: &str, prop: &str| ApiError::schema(META_SCHEMA, reason, Some(prop));
    let s = |k: &str| meta.get(k).and_then(Value::as_str);
    let expiration = match s("expiration").filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => {
            let t = parse_isotime(e).ok_or_else(|| bad("Invalid date for 'expiration'", "expiration"))?;
            if t <= now {
                return Err(bad("'expiration' is before current time", "expiration"));
            }
            Some(t)
        }
    };
    if let Some(p) = meta.get("payload") {
        let p = p.as_str().unwrap_or_default();
        let ct = match meta.get("payload_content_type") {
            Some(Value::String(ct)) => ct.as_str(),
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
        let enc = s("payload_content_encoding");
        if normalize_content_type(ct) == TEXT_PLAIN {
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
        if enc == Some("base64") && b64decode_text(p).is_none() {
            return Err(bad("Invalid payload for payload_content_encoding", "payload"));
        }
    } else if let Some(Value::String(ct)) = meta.get("payload_content_type") {
        if !ct.is_empty() && !supported_content_type(ct) {
            return Err(bad(SUPPORTED_CT, "payload_content_type"));
        }
    }

    // The order rules.
    let kind = match order_type {
        OrderType::Key => "key",
        OrderType::Asymmetric => "asymmetric key",
    };
    if meta.contains_key("payload") {
        let which = if order_type == OrderType::Key { "key" } else { "asymmetric" };
        return Err(ApiError::schema(ORDER_SCHEMA, &format!("'payload' not allowed for {which} type order"), Some("meta")));
    }
    if s("algorithm").is_none_or(str::is_empty) {
        return Err(ApiError::schema(ORDER_SCHEMA, &format!("'algorithm' is required field for {kind} type order"), Some("meta")));
    }
    let bits = meta.get("bit_length").and_then(Value::as_f64).unwrap_or(0.0);
    if bits == 0.0 {
        return Err(ApiError::schema(ORDER_SCHEMA, &format!("'bit_length' is required field for {kind} type order"), Some("meta")));
    }
    if (bits as i64) % 8 != 0 {
        return Err(ApiError::bare(400, "Provided field value is not supported"));
    }

    let mut out = meta.clone();
    out.insert("name".into(), s("name").map(|n| Value::String(n.to_string())).unwrap_or(Value::Null));
    out.insert(
        "expiration".into(),
        expiration.map(|t| Value::String(t.format(META_TS_FORMAT).to_string())).unwrap_or(Value::Null),
    );
    Ok((order_type, out))
}

// ---- POST /v1/orders -------------------------------------------------------------------------

async fn create(req: HttpRequest, st: web::Data<AppState>, body: web::Payload) -> HttpResponse {
    respond("Order creation", create_inner(req, st, body).await)
}

async fn create_inner(req: HttpRequest, st: web::Data<AppState>, body: web::Payload) -> Result<HttpResponse, ApiError> {
    require_json_accept(&req)?;
    let ctx = ctx(&req)?;
    enforce(&st, "orders:post", &ctx, &PolicyTarget::none())?;
    require_json_content_type(&req)?;
    let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
    let (order_type, meta) = validate_order(&v, st.cfg.default.max_allowed_secret_in_bytes, now())?;
    let order = NewOrder {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: ctx.project().to_string(),
        creator_id: ctx.user_id.clone(),
        order_type,
        meta,
    };
    let id = order.id.clone();
    let href = format!("{}/v1/orders/{id}", base_href(&req, &st));
    match order_type {
        // Cheap: generated before answering, so the 202 already points at an ACTIVE order.
        OrderType::Key => {
            st.run(move |core| {
                svc::create(core, &order)?;
                svc::process(core, &order.id)
            })
            .await?
        }
        // RSA takes seconds. A place in the (bounded) key-generation queue first, so a full
        // queue refuses the order with nothing written; then the order, generated on a
        // key-generation thread while the request waits up to the budget, as Barbican without a
        // queue finishes it inside the POST. Past the budget it answers PENDING and the order
        // finishes in the background.
        OrderType::Asymmetric => {
            let ticket = svc::reserve(&st.core, ctx.project())?;
            st.run(move |core| svc::create(core, &order)).await?;
            let done = svc::submit(st.core.clone(), ticket, id);
            let budget = st.cfg.orders.inline_budget_ms;
            if budget > 0 {
                let _ = actix_web::rt::time::timeout(std::time::Duration::from_millis(budget), done).await;
            }
        }
    }
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, href.clone()))
        .json(serde_json::json!({ "order_ref": href })))
}

// ---- GET /v1/orders --------------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Order(s) retrieval", list_inner(req, st).await)
}

async fn list_inner(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_json_accept(&req)?;
    let ctx = ctx(&req)?;
    enforce(&st, "orders:get", &ctx, &PolicyTarget::none())?;
    let q = query_pairs(&req);
    let pg = page(&q, &st);
    // Barbican matches the JSON encoding of the text (quotes included) inside the meta JSON:
    // any meta string value or key equal to it.
    let needle = query_get(&q, "meta")
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::to_string(&Value::String(m.to_string())).unwrap_or_default());
    let project = ctx.project().to_string();
    let (rows, total) = st.run(move |core| svc::list(core, &project, needle.as_deref(), pg)).await?;
    let base = base_href(&req, &st);
    let items: Vec<Value> = rows.iter().map(|o| order_json(o, &base)).collect();
    Ok(HttpResponse::Ok().json(paged_body("orders", items, total, pg, &format!("{base}/v1/orders"), &[])))
}

// ---- GET /v1/orders/{id} ---------------------------------------------------------------------

async fn get(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("Order retrieval", get_inner(req, st, id.into_inner()).await)
}

async fn get_inner(req: HttpRequest, st: web::Data<AppState>, id: String) -> Result<HttpResponse, ApiError> {
    let o = load(&st, &req, &id).await?;
    require_json_accept(&req)?;
    let ctx = ctx(&req)?;
    enforce(&st, "order:get", &ctx, &PolicyTarget::order(&o.project_id, o.creator_id.as_deref()))?;
    Ok(HttpResponse::Ok().json(order_json(&o, &base_href(&req, &st))))
}

// ---- DELETE /v1/orders/{id} ------------------------------------------------------------------

async fn delete(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("Order deletion", delete_inner(req, st, id.into_inner()).await)
}

async fn delete_inner(req: HttpRequest, st: web::Data<AppState>, id: String) -> Result<HttpResponse, ApiError> {
    let o = load(&st, &req, &id).await?;
    let ctx = ctx(&req)?;
    enforce(&st, "order:delete", &ctx, &PolicyTarget::order(&o.project_id, o.creator_id.as_deref()))?;
    st.run(move |core| svc::delete(core, &o.id, &o.project_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- PUT /v1/orders --------------------------------------------------------------------------

async fn put_collection(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Order update", put_inner(req, st).await)
}

async fn put_inner(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_json_accept(&req)?;
    let ctx = ctx(&req)?;
    enforce(&st, "orders:put", &ctx, &PolicyTarget::none())?;
    Err(ApiError::bare(405, "Order update is not supported."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desc(e: ApiError) -> String {
        match e.desc {
            super::super::error::Desc::Bare(m) => m,
            other => format!("{other:?}"),
        }
    }

    fn err(v: Value) -> String {
        desc(validate_order(&v, 20000, now()).unwrap_err())
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
        let (t, meta) = validate_order(
            &json!({"type": "key", "meta": {"algorithm": "AES", "bit_length": 256, "expiration": "2999-05-01T10:00:00+02:00", "x": 1}}),
            20000,
            now(),
        )
        .unwrap();
        assert_eq!(t, OrderType::Key);
        assert_eq!(
            Value::Object(meta),
            json!({"algorithm": "AES", "bit_length": 256, "expiration": "2999-05-01T08:00:00.000000", "name": null, "x": 1})
        );
    }
}
