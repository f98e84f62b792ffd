//! Consumers: `/v1/secrets/{id}/consumers` (§5.4) and `/v1/containers/{id}/consumers` (§5.6).
//!
//! Registered before the secrets routes, whose catch-all would otherwise take these paths.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::containers::{self as containers_api, container_json};
use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, json_body, page, paged_body, query_pairs, require_json_accept, require_json_content_type,
    valid_uuid4,
};
use super::secrets::{self as secrets_api, ctx, enforce, secret_json};
use super::validate::consumer::{container_consumer_body, secret_consumer_body};
use super::AppState;
use crate::service::consumers as svc;
use crate::store::consumers::{ContainerConsumerRecord, SecretConsumerRecord};

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

/// Routing 405: the secret is looked up and the consumer id checked first.
async fn secret_not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    let r = match secrets_api::load(&st, &req, &id, false).await {
        Ok(_) => consumer_id(&req).map(|_| ()),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => ApiError::method_not_allowed(allow).render(""),
        Err(e) => e.render(""),
    }
}

async fn container_not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    let r = match containers_api::load(&st, &req, &id).await {
        Ok(_) => consumer_id(&req).map(|_| ()),
        Err(e) => Err(e),
    };
    match r {
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

/// Look-up, Accept negotiation (all consumer routes are JSON-only), then policy.
async fn authorize_secret(req: &HttpRequest, st: &AppState, id: &str, rule: &str) -> Result<crate::model::Secret, ApiError> {
    let l = secrets_api::load(st, req, id, false).await?;
    require_json_accept(req)?;
    enforce(st, rule, &ctx(req)?, &l.target())?;
    Ok(l.secret)
}

async fn list_secret(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("SecretConsumers(s) retrieval", async {
        let secret = authorize_secret(&req, &st, &id, "secret_consumers:get").await?;
        let pg = page(&query_pairs(&req), &st);
        let sid = secret.id.clone();
        let (rows, total) = st.run(move |core| svc::list_secret(core, &sid, pg)).await?;
        let items = rows.iter().map(secret_consumer_json).collect();
        let link = format!("{}/v1/secrets/{}/consumers", base_href(&req, &st), secret.id);
        Ok(HttpResponse::Ok().json(paged_body("consumers", items, total, pg, &link, &[])))
    }
    .await)
}

async fn register_secret(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("SecretConsumer creation", async {
        let secret = authorize_secret(&req, &st, &id, "secret_consumers:post").await?;
        require_json_content_type(&req)?;
        // Barbican creates the caller's project before it reads the body.
        let project = ctx(&req)?.project().to_string();
        let p = project.clone();
        st.run(move |core| core.ensure_project(&mut *core.conn()?, &p)).await?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let k = secret_consumer_body(&v)?;
        let sid = secret.id.clone();
        let (s, consumers) = st.run(move |core| svc::register_secret(core, &sid, &project, &k)).await?;
        let base = base_href(&req, &st);
        Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, bogus_location(&req, &st, &s.id)))
            .json(secret_json(&s, &base, Some(consumers.as_slice()))))
    }
    .await)
}

async fn remove_secret(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("SecretConsumer deletion", async {
        let secret = authorize_secret(&req, &st, &id, "secret_consumers:delete").await?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let k = secret_consumer_body(&v)?;
        let project = ctx(&req)?.project().to_string();
        let (s, consumers) = st.run(move |core| svc::remove_secret(core, &secret, &project, &k)).await?;
        Ok(HttpResponse::Ok().json(secret_json(&s, &base_href(&req, &st), Some(consumers.as_slice()))))
    }
    .await)
}

async fn get_secret_consumer(req: HttpRequest, st: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, _) = path.into_inner();
    respond("SecretConsumer retrieval", async {
        let l = secrets_api::load(&st, &req, &id, false).await?;
        let cid = consumer_id(&req)?.unwrap_or_default();
        require_json_accept(&req)?;
        // `consumer:get` is a container rule: with a secret target only its role checks can pass.
        enforce(&st, "consumer:get", &ctx(&req)?, &l.target())?;
        let sid = l.secret.id;
        let c = st.run(move |core| svc::get_secret(core, &sid, &cid)).await?;
        Ok(HttpResponse::Ok().json(secret_consumer_json(&c)))
    }
    .await)
}

// ---- container consumers ---------------------------------------------------------------------

async fn authorize_container(
    req: &HttpRequest,
    st: &AppState,
    id: &str,
    rule: &str,
) -> Result<crate::store::containers::Container, ApiError> {
    let l = containers_api::load(st, req, id).await?;
    require_json_accept(req)?;
    enforce(st, rule, &ctx(req)?, &l.target())?;
    Ok(l.container)
}

async fn list_container(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("ContainerConsumers(s) retrieval", async {
        let container = authorize_container(&req, &st, &id, "container_consumers:get").await?;
        let pg = page(&query_pairs(&req), &st);
        let cid = container.id.clone();
        let (rows, total) = st.run(move |core| svc::list_container(core, &cid, pg)).await?;
        let items = rows.iter().map(container_consumer_json).collect();
        let link = format!("{}/v1/containers/{}/consumers", base_href(&req, &st), container.id);
        Ok(HttpResponse::Ok().json(paged_body("consumers", items, total, pg, &link, &[])))
    }
    .await)
}

async fn register_container(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("ContainerConsumer creation", async {
        let container = authorize_container(&req, &st, &id, "container_consumers:post").await?;
        require_json_content_type(&req)?;
        let project = ctx(&req)?.project().to_string();
        let p = project.clone();
        st.run(move |core| core.ensure_project(&mut *core.conn()?, &p)).await?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (name, url) = container_consumer_body(&v)?;
        let cid = container.id.clone();
        let view = st.run(move |core| svc::register_container(core, &cid, &project, &name, &url)).await?;
        Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, bogus_location(&req, &st, &container.id)))
            .json(container_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn remove_container(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("ContainerConsumer deletion", async {
        let container = authorize_container(&req, &st, &id, "container_consumers:delete").await?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (name, url) = container_consumer_body(&v)?;
        let project = ctx(&req)?.project().to_string();
        let view = st.run(move |core| svc::remove_container(core, &container, &project, &name, &url)).await?;
        Ok(HttpResponse::Ok().json(container_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn get_container_consumer(req: HttpRequest, st: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, _) = path.into_inner();
    respond("ContainerConsumer retrieval", async {
        let l = containers_api::load(&st, &req, &id).await?;
        let cid = consumer_id(&req)?.unwrap_or_default();
        require_json_accept(&req)?;
        enforce(&st, "consumer:get", &ctx(&req)?, &l.target())?;
        let container_id = l.container.id;
        let c = st.run(move |core| svc::get_container(core, &container_id, &cid)).await?;
        Ok(HttpResponse::Ok().json(container_consumer_json(&c)))
    }
    .await)
}
