//! Consumers: `/v1/secrets/{id}/consumers` (§5.4) and `/v1/containers/{id}/consumers` (§5.6).
//! Each route makes one service call (look-up, policy and operation in one blocking hop); all
//! are JSON-only, negotiated between the look-up and the policy.
//!
//! Registered before the secrets routes, whose catch-all would otherwise take these paths.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::containers::{self as containers_api, container_id, container_json};
use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, page, paged_body, query_pairs, require_json_accept, require_json_content_type, valid_uuid4,
    LaterBody,
};
use super::secrets::{secret_id, secret_json};
use super::validate::consumer::{container_consumer_body, secret_consumer_body};
use super::AppState;
use crate::model::{ContainerConsumerRecord, SecretConsumerRecord};
use crate::service::access::Caller;
use crate::service::consumers as svc;
use crate::service::secrets as secret_svc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/secrets/{id}/consumers", "/secrets/{id}/consumers/"])
            .route(web::get().to(list_secret))
            .route(web::post().to(register_secret))
            .route(web::delete().to(remove_secret))
            .default_service(web::to(|req, st| secret_not_allowed(req, st, "DELETE, GET, POST"))),
    )
    .service(
        web::resource("/secrets/{id}/consumers/{cid}")
            .route(web::get().to(get_secret_consumer))
            .default_service(web::to(|req, st| secret_not_allowed(req, st, "GET"))),
    )
    .service(
        web::resource(["/containers/{id}/consumers", "/containers/{id}/consumers/"])
            .route(web::get().to(list_container))
            .route(web::post().to(register_container))
            .route(web::delete().to(remove_container))
            .default_service(web::to(|req, st| container_not_allowed(req, st, "DELETE, GET, POST"))),
    )
    .service(
        web::resource("/containers/{id}/consumers/{cid}")
            .route(web::get().to(get_container_consumer))
            .default_service(web::to(|req, st| container_not_allowed(req, st, "GET"))),
    );
}

const INVALID_CONSUMER_ID: &str = "Not Found. Provided consumer id is invalid.";

/// The consumer id of a `…/consumers/{cid}` path, syntax-checked (after the parent's look-up).
fn consumer_id(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.match_info().get("cid") {
        None => Ok(None),
        Some(cid) if valid_uuid4(cid) => Ok(Some(cid.to_string())),
        Some(_) => Err(ApiError::bare(404, INVALID_CONSUMER_ID)),
    }
}

/// What every consumer route checks between the look-up and the policy: the consumer id of
/// the path (if any), then Accept.
fn pre_checks<T>(req: &HttpRequest) -> impl FnOnce(&T) -> Result<(), ApiError> {
    let cid = consumer_id(req).map(drop);
    let accept = require_json_accept(req);
    move |_| cid.and(accept)
}

/// Routing 405: the secret is looked up and the consumer id checked first.
async fn secret_not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    let r = async {
        let id = secret_id(req.match_info().get("id").unwrap_or(""))?;
        st.call(move |core| secret_svc::exists(core, &id)).await?;
        consumer_id(&req).map(drop)
    };
    match r.await {
        Ok(()) => ApiError::method_not_allowed(allow).render(""),
        Err(e) => e.render(""),
    }
}

async fn container_not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    let r = async {
        containers_api::must_exist(&req, &st).await?;
        consumer_id(&req).map(drop)
    };
    match r.await {
        Ok(()) => ApiError::method_not_allowed(allow).render(""),
        Err(e) => e.render(""),
    }
}

/// `{base}/v1/consumers/{id}/consumers`: the (nonexistent) URL Barbican puts in `Location`.
fn bogus_location(req: &HttpRequest, st: &AppState, id: &str) -> String {
    format!("{}/v1/consumers/{id}/consumers", base_href(req, st))
}

fn secret_consumer_json(c: &SecretConsumerRecord) -> Value {
    json!({
        "created": fmt_ts(&c.created_at),
        "updated": fmt_ts(&c.updated_at),
        "status": "ACTIVE",
        "service": c.service,
        "resource_type": c.resource_type,
        "resource_id": c.resource_id,
    })
}

fn container_consumer_json(c: &ContainerConsumerRecord) -> Value {
    json!({
        "created": fmt_ts(&c.created_at),
        "updated": fmt_ts(&c.updated_at),
        "status": "ACTIVE",
        "name": c.name,
        "URL": c.url,
    })
}

// ---- secret consumers ------------------------------------------------------------------------

async fn list_secret(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("SecretConsumers(s) retrieval", async {
        let id = secret_id(&id)?;
        let pg = page(&query_pairs(&req), &st);
        let link = format!("{}/v1/secrets/{id}/consumers", base_href(&req, &st));
        let pre = pre_checks(&req);
        let (rows, total) = st.call(move |core| svc::list_secret(core, &caller, &id, pre, pg)).await?;
        let items = rows.iter().map(secret_consumer_json).collect();
        Ok(HttpResponse::Ok().json(paged_body("consumers", items, total, pg, &link, &[])))
    }
    .await)
}

async fn register_secret(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("SecretConsumer creation", async {
        let id = secret_id(&id)?;
        let pre = pre_checks(&req);
        // After policy: Content-Type, then (once the caller's project exists) the body.
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || secret_consumer_body(&*raw.json()?);
        let (s, consumers) =
            st.call(move |core| svc::register_secret(core, &caller, &id, pre, || content_type, input)).await?;
        Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, bogus_location(&req, &st, &s.id)))
            .json(secret_json(&s, &base_href(&req, &st), Some(consumers.as_slice()))))
    }
    .await)
}

async fn remove_secret(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("SecretConsumer deletion", async {
        let id = secret_id(&id)?;
        let pre = pre_checks(&req);
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || {
            content_type?;
            secret_consumer_body(&*raw.json()?)
        };
        let (s, consumers) = st.call(move |core| svc::remove_secret(core, &caller, &id, pre, input)).await?;
        Ok(HttpResponse::Ok().json(secret_json(&s, &base_href(&req, &st), Some(consumers.as_slice()))))
    }
    .await)
}

async fn get_secret_consumer(req: HttpRequest, st: web::Data<AppState>, caller: Caller, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, cid) = path.into_inner();
    respond("SecretConsumer retrieval", async {
        let id = secret_id(&id)?;
        let pre = pre_checks(&req);
        let c = st.call(move |core| svc::get_secret(core, &caller, &id, &cid, pre)).await?;
        Ok(HttpResponse::Ok().json(secret_consumer_json(&c)))
    }
    .await)
}

// ---- container consumers ---------------------------------------------------------------------

async fn list_container(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("ContainerConsumers(s) retrieval", async {
        let id = container_id(&id)?;
        let pg = page(&query_pairs(&req), &st);
        let link = format!("{}/v1/containers/{id}/consumers", base_href(&req, &st));
        let pre = pre_checks(&req);
        let (rows, total) = st.call(move |core| svc::list_container(core, &caller, &id, pre, pg)).await?;
        let items = rows.iter().map(container_consumer_json).collect();
        Ok(HttpResponse::Ok().json(paged_body("consumers", items, total, pg, &link, &[])))
    }
    .await)
}

async fn register_container(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("ContainerConsumer creation", async {
        let id = container_id(&id)?;
        let pre = pre_checks(&req);
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || container_consumer_body(&*raw.json()?);
        let location = bogus_location(&req, &st, &id);
        let view =
            st.call(move |core| svc::register_container(core, &caller, &id, pre, || content_type, input)).await?;
        Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, location))
            .json(container_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn remove_container(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("ContainerConsumer deletion", async {
        let id = container_id(&id)?;
        let pre = pre_checks(&req);
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || {
            content_type?;
            container_consumer_body(&*raw.json()?)
        };
        let view = st.call(move |core| svc::remove_container(core, &caller, &id, pre, input)).await?;
        Ok(HttpResponse::Ok().json(container_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn get_container_consumer(req: HttpRequest, st: web::Data<AppState>, caller: Caller, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, cid) = path.into_inner();
    respond("ContainerConsumer retrieval", async {
        let id = container_id(&id)?;
        let pre = pre_checks(&req);
        let c = st.call(move |core| svc::get_container(core, &caller, &id, &cid, pre)).await?;
        Ok(HttpResponse::Ok().json(container_consumer_json(&c)))
    }
    .await)
}
