//! `/v1/containers` (§5.5). Container consumers are in `consumers`, container ACLs in `acls`.
//! Each route makes one service call (look-up, policy and operation in one blocking hop).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, json_accept, page, paged_body, query_get, query_pairs, require_json_accept,
    require_json_content_type, valid_uuid4, LaterBody,
};
use super::validate::container::{container_body, container_secret_body};
use super::AppState;
use crate::model::{Container, ContainerFilter};
use crate::service::access::Caller;
use crate::service::containers::{self as svc, ContainerView, LinkReq};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/containers", "/containers/"])
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(|| super::not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/containers/{id}")
            .route(web::get().to(get))
            .route(web::delete().to(delete))
            .default_service(web::to(|req, st| not_allowed(req, st, "DELETE, GET"))),
    )
    .service(
        web::resource(["/containers/{id}/secrets", "/containers/{id}/secrets/"])
            .route(web::post().to(add_secret))
            .route(web::delete().to(remove_secret))
            .default_service(web::to(|req, st| not_allowed(req, st, "DELETE, POST"))),
    )
    .configure(super::acls::container_routes)
    .service(
        // Unknown sub-resources: the id is checked and looked up first (§2.3.4), then 404.
        web::resource("/containers/{id}/{rest:.*}").default_service(web::to(unknown_subpath)),
    );
}

/// A container id from the path: 404 before any look-up when it is not a UUID4 (§2.6).
pub fn container_id(id: &str) -> Result<String, ApiError> {
    if valid_uuid4(id) {
        Ok(id.to_string())
    } else {
        Err(ApiError::bare(404, "Not Found. Provided container id is invalid."))
    }
}

/// The container of a request that names one: its id checked, then looked up (not
/// project-scoped: an unknown id is 404 whoever asks).
pub async fn must_exist(req: &HttpRequest, st: &AppState) -> Result<(), ApiError> {
    let id = container_id(req.match_info().get("id").unwrap_or(""))?;
    st.call(move |core| svc::exists(core, &id)).await
}

/// Routing 405 on a container resource: the id is checked and looked up first.
async fn not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    match must_exist(&req, &st).await {
        Ok(()) => ApiError::method_not_allowed(allow).render(""),
        Err(e) => e.render(""),
    }
}

async fn unknown_subpath(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    match must_exist(&req, &st).await {
        Ok(()) => ApiError::not_found_route().render(""),
        Err(e) => e.render(""),
    }
}

// ---- representation --------------------------------------------------------------------------

#[derive(Serialize)]
struct SecretRefJson<'a> {
    name: Option<&'a str>,
    secret_ref: String,
}

#[derive(Serialize)]
struct ConsumerRefJson<'a> {
    name: &'a str,
    #[serde(rename = "URL")]
    url: &'a str,
}

#[derive(Serialize)]
pub struct ContainerJson<'a> {
    created: String,
    updated: String,
    status: &'a str,
    name: Option<&'a str>,
    #[serde(rename = "type")]
    container_type: &'a str,
    creator_id: Option<&'a str>,
    secret_refs: Vec<SecretRefJson<'a>>,
    consumers: Vec<ConsumerRefJson<'a>>,
    container_ref: String,
}

/// The container representation (§5.5): no microversion differences.
pub fn container_json<'a>(v: &'a ContainerView, base: &str) -> ContainerJson<'a> {
    let c = &v.container;
    ContainerJson {
        created: fmt_ts(&c.created_at),
        updated: fmt_ts(&c.updated_at),
        status: &c.status,
        name: c.name.as_deref(),
        container_type: &c.container_type,
        creator_id: c.creator_id.as_deref(),
        secret_refs: v
            .secret_refs
            .iter()
            .map(|(name, sid)| SecretRefJson { name: name.as_deref(), secret_ref: format!("{base}/v1/secrets/{sid}") })
            .collect(),
        consumers: v.consumers.iter().map(|(name, url)| ConsumerRefJson { name, url }).collect(),
        container_ref: format!("{base}/v1/containers/{}", c.id),
    }
}

/// The prefix container `secret_ref`s must have: the configured `host_href` as written, or the
/// base derived from the request (§2.8).
fn ref_prefix(req: &HttpRequest, st: &AppState) -> String {
    let raw = st.cfg.default.host_href.trim();
    if raw.is_empty() {
        base_href(req, st)
    } else {
        raw.to_string()
    }
}


// ---- POST /v1/containers ---------------------------------------------------------------------

async fn create(req: HttpRequest, st: web::Data<AppState>, caller: Caller, body: web::Payload) -> HttpResponse {
    respond("Container creation", async {
        require_json_accept(&req)?;
        // Judged once policy has allowed the request: Content-Type, then (once the project
        // exists) the body.
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let prefix = ref_prefix(&req, &st);
        let input = move || container_body(&*raw.json()?, &prefix);
        let id = st.call(move |core| svc::create(core, &caller, || content_type, input)).await?;
        let href = format!("{}/v1/containers/{id}", base_href(&req, &st));
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, href.clone()))
            .json(serde_json::json!({ "container_ref": href })))
    }
    .await)
}

// ---- GET /v1/containers ----------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Containers(s) retrieval", async {
        require_json_accept(&req)?;
        let q = query_pairs(&req);
        let pg = page(&q, &st);
        let non_empty = |k: &str| query_get(&q, k).filter(|v| !v.is_empty()).map(str::to_string);
        let f = ContainerFilter { name: non_empty("name"), container_type: non_empty("type") };
        let (rows, total) = st.read(move |core| svc::list(core, &caller, &f, pg)).await?;
        let base = base_href(&req, &st);
        let items: Vec<Value> =
            rows.iter().map(|v| serde_json::to_value(container_json(v, &base)).unwrap_or(Value::Null)).collect();
        Ok(HttpResponse::Ok().json(paged_body("containers", items, total, pg, &format!("{base}/v1/containers"), &[])))
    }
    .await)
}

// ---- GET /v1/containers/{id} -----------------------------------------------------------------

async fn get(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Container retrieval", async {
        let id = container_id(&id)?;
        let pre = json_accept::<Container>(&req);
        let v = st.read(move |core| svc::get(core, &caller, &id, pre)).await?;
        Ok(HttpResponse::Ok().json(container_json(&v, &base_href(&req, &st))))
    }
    .await)
}

// ---- DELETE /v1/containers/{id} --------------------------------------------------------------

async fn delete(st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Container deletion", async {
        let id = container_id(&id)?;
        st.call(move |core| svc::remove(core, &caller, &id)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

// ---- POST / DELETE /v1/containers/{id}/secrets -----------------------------------------------

async fn add_secret(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Container Secret creation", async {
        let id = container_id(&id)?;
        let pre = json_accept::<Container>(&req);
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        // After policy, in Barbican's order: Content-Type, a generic container, the body.
        let input = move |c: &Container| -> Result<LinkReq, ApiError> {
            content_type?;
            svc::modifiable(c)?;
            container_secret_body(&*raw.json()?)
        };
        let href = format!("{}/v1/containers/{id}", base_href(&req, &st));
        st.call(move |core| svc::add_secret(core, &caller, &id, pre, input)).await?;
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, href.clone()))
            .json(serde_json::json!({ "container_ref": href })))
    }
    .await)
}

async fn remove_secret(st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Container Secret deletion", async {
        let id = container_id(&id)?;
        // Any Content-Type, but the body must be JSON.
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || container_secret_body(&*raw.json()?);
        st.call(move |core| svc::remove_secret(core, &caller, &id, input)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
