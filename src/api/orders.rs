//! `/v1/orders` (§5.8): key and asymmetric orders, processed PENDING → ACTIVE / ERROR.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, json_accept, page, paged_body, query_get, query_pairs, require_json_accept, LaterBody,
};
use super::validate::order::order_create;
use super::AppState;
use crate::model::Order;
use crate::service::access::Caller;
use crate::service::orders as svc;

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
            .default_service(web::to(|req, st, caller| routed(req, st, caller, ApiError::method_not_allowed("DELETE, GET")))),
    )
    .service(
        web::resource("/orders/{id}/{rest:.*}")
            .default_service(web::to(|req, st, caller| routed(req, st, caller, ApiError::not_found_route()))),
    );
}

/// A routing error on `/orders/{id}…`, after the project-scoped look-up (§2.3.4).
async fn routed(req: HttpRequest, st: web::Data<AppState>, caller: Caller, e: ApiError) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    match st.run(move |core| svc::find(core, &caller, &id)).await {
        Ok(_) => e.render(""),
        Err(e) => e.render(""),
    }
}

/// The order representation (§5.8): optional keys only when set.
pub fn order_json(o: &Order, base: &str) -> Value {
    let mut m = Map::new();
    m.insert("created".into(), Value::String(fmt_ts(&o.created_at)));
    m.insert("updated".into(), Value::String(fmt_ts(&o.updated_at)));
    m.insert("status".into(), Value::String(o.status.clone()));
    m.insert("type".into(), Value::String(o.order_type.clone()));
    m.insert("meta".into(), Value::Object(o.meta.clone()));
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

// ---- POST /v1/orders -------------------------------------------------------------------------

async fn create(req: HttpRequest, st: web::Data<AppState>, caller: Caller, body: web::Payload) -> HttpResponse {
    respond("Order creation", async {
        require_json_accept(&req)?;
        // Judged after the policy decision: Content-Type, then the body, then the schema.
        let body = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let max_secret = st.cfg.default.max_allowed_secret_in_bytes;
        let input = move || order_create(&*body.json()?, max_secret, chrono::Utc::now().naive_utc());
        let core = st.core.clone();
        let created = st.call(move |_| svc::create(&core, &caller, input)).await?;
        // An asymmetric order is generated on a key-generation thread while the request waits
        // up to the budget, as Barbican without a queue finishes it inside the POST. Past the
        // budget it answers PENDING and the order finishes in the background.
        if let Some(done) = created.done {
            let budget = st.cfg.orders.inline_budget_ms;
            if budget > 0 {
                let _ = actix_web::rt::time::timeout(std::time::Duration::from_millis(budget), done).await;
            }
        }
        let href = format!("{}/v1/orders/{}", base_href(&req, &st), created.id);
        Ok(HttpResponse::Accepted()
            .insert_header((header::LOCATION, href.clone()))
            .json(serde_json::json!({ "order_ref": href })))
    }
    .await)
}

// ---- GET /v1/orders --------------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Order(s) retrieval", async {
        require_json_accept(&req)?;
        let q = query_pairs(&req);
        let pg = page(&q, &st);
        // Barbican matches the JSON encoding of the text (quotes included) inside the meta JSON:
        // any meta string value or key equal to it.
        let needle = query_get(&q, "meta")
            .filter(|m| !m.is_empty())
            .map(|m| serde_json::to_string(&Value::String(m.to_string())).unwrap_or_default());
        let (orders, total) = st.run(move |core| svc::list(core, &caller, needle.as_deref(), pg)).await?;
        let base = base_href(&req, &st);
        let items: Vec<Value> = orders.iter().map(|o| order_json(o, &base)).collect();
        Ok(HttpResponse::Ok().json(paged_body("orders", items, total, pg, &format!("{base}/v1/orders"), &[])))
    }
    .await)
}

// ---- GET /v1/orders/{id} ---------------------------------------------------------------------

async fn get(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Order retrieval", async {
        // Barbican negotiates after the look-up, before the policy.
        let (id, pre) = (id.into_inner(), json_accept(&req));
        let order = st.call(move |core| svc::get(core, &caller, &id, pre)).await?;
        Ok(HttpResponse::Ok().json(order_json(&order, &base_href(&req, &st))))
    }
    .await)
}

// ---- DELETE /v1/orders/{id} ------------------------------------------------------------------

async fn delete(st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Order deletion", async {
        let id = id.into_inner();
        st.run(move |core| svc::remove(core, &caller, &id)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

// ---- PUT /v1/orders --------------------------------------------------------------------------

async fn put_collection(req: HttpRequest, caller: Caller) -> HttpResponse {
    respond("Order update", async {
        require_json_accept(&req)?;
        // Policy, then "not supported": nothing to look up, so no trip to the database.
        svc::refuse_update(&caller)?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
