//! `/v1/containers` (§5.5). Container consumers are in `consumers`, container ACLs in `acls`.

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, json_body, page, paged_body, query_get, query_pairs, require_json_accept,
    require_json_content_type, valid_uuid4,
};
use super::secrets::{ctx, enforce};
use super::validate::container::{container_body, container_secret_body, last_segment};
use super::AppState;
use crate::auth::RequestContext;
use crate::policy::PolicyTarget;
use crate::service::containers::{self as svc, ContainerView};
use crate::store::acls::{self, ReadFacts};
use crate::store::containers::{Container, ContainerFilter};

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

/// A container looked up for a request, with what its policy target needs.
pub struct Loaded {
    pub container: Container,
    pub acl: ReadFacts,
}

impl Loaded {
    /// The policy target of a single-container route (§4.1), from stored facts only.
    pub fn target(&self) -> PolicyTarget {
        let c = &self.container;
        PolicyTarget::entity("container", &c.project_id, c.creator_id.as_deref(), self.acl.caller_listed, self.acl.project_access, true)
    }
}

/// Id syntax, then existence (not project-scoped: policy decides), and the caller's standing
/// in the container's `read` ACL.
pub async fn load(st: &AppState, req: &HttpRequest, id: &str) -> Result<Loaded, ApiError> {
    if !valid_uuid4(id) {
        return Err(ApiError::bare(404, "Not Found. Provided container id is invalid."));
    }
    let id = id.to_string();
    let caller = req.extensions().get::<RequestContext>().and_then(|c| c.user_id.clone());
    st.run(move |core| {
        let mut conn = core.conn()?;
        let container = svc::lookup(&mut conn, &id)?;
        let acl = acls::read_facts(&mut conn, "container", &id, caller.as_deref())?;
        Ok(Loaded { container, acl })
    })
    .await
}

/// Routing 405 on a container resource: the id is checked and looked up first.
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

async fn create(req: HttpRequest, st: web::Data<AppState>, body: web::Payload) -> HttpResponse {
    respond("Container creation", create_inner(req, st, body).await)
}

async fn create_inner(req: HttpRequest, st: web::Data<AppState>, body: web::Payload) -> Result<HttpResponse, ApiError> {
    require_json_accept(&req)?;
    let ctx = ctx(&req)?;
    enforce(&st, "containers:post", &ctx, &PolicyTarget::none())?;
    require_json_content_type(&req)?;
    // Barbican creates the project before it reads the body.
    let project = ctx.project().to_string();
    let p = project.clone();
    st.run(move |core| core.ensure_project(&mut *core.conn()?, &p)).await?;
    let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
    let n = container_body(&v, &ref_prefix(&req, &st))?;
    let creator = ctx.user_id.clone();
    let id = st.run(move |core| svc::create(core, &project, creator.as_deref(), &n)).await?;
    let href = format!("{}/v1/containers/{id}", base_href(&req, &st));
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, href.clone()))
        .json(serde_json::json!({ "container_ref": href })))
}

// ---- GET /v1/containers ----------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Containers(s) retrieval", list_inner(req, st).await)
}

async fn list_inner(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_json_accept(&req)?;
    let ctx = ctx(&req)?;
    enforce(&st, "containers:get", &ctx, &PolicyTarget::none())?;
    let q = query_pairs(&req);
    let pg = page(&q, &st);
    let non_empty = |k: &str| query_get(&q, k).filter(|v| !v.is_empty()).map(str::to_string);
    let f = ContainerFilter { name: non_empty("name"), container_type: non_empty("type") };
    let project = ctx.project().to_string();
    let (rows, total) = st.run(move |core| svc::list(core, &project, &f, pg)).await?;
    let base = base_href(&req, &st);
    let items: Vec<Value> =
        rows.iter().map(|v| serde_json::to_value(container_json(v, &base)).unwrap_or(Value::Null)).collect();
    Ok(HttpResponse::Ok().json(paged_body("containers", items, total, pg, &format!("{base}/v1/containers"), &[])))
}

// ---- GET /v1/containers/{id} -----------------------------------------------------------------

async fn get(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("Container retrieval", async {
        let l = load(&st, &req, &id).await?;
        require_json_accept(&req)?;
        enforce(&st, "container:get", &ctx(&req)?, &l.target())?;
        let id = l.container.id;
        let v = st.run(move |core| svc::view(core, &id)).await?;
        Ok(HttpResponse::Ok().json(container_json(&v, &base_href(&req, &st))))
    }
    .await)
}

// ---- DELETE /v1/containers/{id} --------------------------------------------------------------

async fn delete(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("Container deletion", async {
        let l = load(&st, &req, &id).await?;
        let ctx = ctx(&req)?;
        enforce(&st, "container:delete", &ctx, &l.target())?;
        let (id, project) = (l.container.id, ctx.project().to_string());
        st.run(move |core| svc::delete(core, &id, &project)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

// ---- POST / DELETE /v1/containers/{id}/secrets -----------------------------------------------

async fn add_secret(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Container Secret creation", async {
        let l = load(&st, &req, &id).await?;
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "container_secret:post", &ctx, &l.target())?;
        require_json_content_type(&req)?;
        if l.container.container_type != "generic" {
            return Err(ApiError::bare(400, "Only 'generic' containers can be modified."));
        }
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (name, secret_ref) = container_secret_body(&v)?;
        let secret_id = last_segment(&secret_ref).to_string();
        let (cid, project) = (l.container.id, ctx.project().to_string());
        let href = format!("{}/v1/containers/{cid}", base_href(&req, &st));
        st.run(move |core| svc::add_secret(core, &cid, &project, &secret_id, name.as_deref())).await?;
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, href.clone()))
            .json(serde_json::json!({ "container_ref": href })))
    }
    .await)
}

async fn remove_secret(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Container Secret deletion", async {
        let l = load(&st, &req, &id).await?;
        let ctx = ctx(&req)?;
        enforce(&st, "container_secret:delete", &ctx, &l.target())?;
        // Any Content-Type, but the body must be JSON.
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (name, secret_ref) = container_secret_body(&v)?;
        let secret_id = last_segment(&secret_ref).to_string();
        let (cid, project) = (l.container.id, ctx.project().to_string());
        st.run(move |core| svc::remove_secret(core, &cid, &project, &secret_id, name.as_deref(), &secret_ref)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
