//! `/v1/quotas` and `/v1/project-quotas` (§5.9).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::error::{respond, ApiError};
use super::http::{base_href, page, paged_body, query_pairs, require_json_accept, strip_strings, LaterBody};
use super::validate::quota::project_quota_body;
use super::AppState;
use crate::model::QuotaOverrides;
use crate::service::access::Caller;
use crate::service::quotas::{self as svc, RESOURCES};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/quotas")
            .route(web::get().to(get_quotas))
            .default_service(web::to(|| super::not_allowed("GET"))),
    )
    .service(
        web::resource("/project-quotas")
            .route(web::get().to(list))
            .default_service(web::to(|| super::not_allowed("GET"))),
    )
    .service(
        web::resource("/project-quotas/{project_id}")
            .route(web::get().to(get_one))
            .route(web::put().to(put_one))
            .route(web::delete().to(delete_one))
            .default_service(web::to(|| super::not_allowed("DELETE, GET, PUT"))),
    );
}

const OP: &str = "Project Quotas";

// ---- GET /v1/quotas --------------------------------------------------------------------------

async fn get_quotas(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Quotas", async {
        require_json_accept(&req)?;
        let values = st.run(move |core| svc::effective_all(core, &caller)).await?;
        let mut m = Map::new();
        for ((_, name), (_, v)) in RESOURCES.iter().zip(values) {
            m.insert(name.to_string(), Value::from(v));
        }
        Ok(HttpResponse::Ok().json(serde_json::json!({ "quotas": m })))
    }
    .await)
}

/// A project's overrides as Barbican prints them: all five keys, null when unset.
fn overrides_json(q: &QuotaOverrides) -> Value {
    let mut m = Map::new();
    for (r, name) in RESOURCES {
        m.insert(name.to_string(), svc::override_of(q, r).map(Value::from).unwrap_or(Value::Null));
    }
    Value::Object(m)
}

// ---- GET /v1/project-quotas ------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond(OP, async {
        require_json_accept(&req)?;
        let pg = page(&query_pairs(&req), &st);
        let (all, total) = st.run(move |core| svc::list_overrides(core, &caller, pg)).await?;
        let items = all
            .iter()
            .map(|p| serde_json::json!({"project_id": p.project_id, "project_quotas": overrides_json(&p.quotas)}))
            .collect();
        // Barbican's links name the collection `project_quotas` (a URL that does not exist).
        let base = base_href(&req, &st);
        Ok(HttpResponse::Ok().json(paged_body("project_quotas", items, total, pg, &format!("{base}/v1/project_quotas"), &[])))
    }
    .await)
}

// ---- GET /v1/project-quotas/{project_id} -----------------------------------------------------

async fn get_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller, project: web::Path<String>) -> HttpResponse {
    respond(OP, async {
        require_json_accept(&req)?;
        let project = project.into_inner();
        let found = st.run(move |core| svc::get_override(core, &caller, &project)).await?;
        Ok(HttpResponse::Ok().json(serde_json::json!({ "project_quotas": overrides_json(&found.quotas) })))
    }
    .await)
}

// ---- PUT /v1/project-quotas/{project_id} -----------------------------------------------------

/// The PUT body as Barbican reads it: an empty one is "no data", a truncated one malformed,
/// then JSON with its strings stripped, then the schema.
fn put_body(body: LaterBody) -> Result<QuotaOverrides, ApiError> {
    let (bytes, overflow) = body.bytes()?;
    if bytes.is_empty() {
        return Err(ApiError::issue(400, "No data supplied to process."));
    }
    if overflow {
        return Err(ApiError::malformed_json());
    }
    let mut v: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::malformed_json())?;
    strip_strings(&mut v);
    project_quota_body(&v)
}

async fn put_one(
    req: HttpRequest,
    st: web::Data<AppState>,
    caller: Caller,
    project: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    respond(OP, async {
        require_json_accept(&req)?;
        // Judged after the policy decision: Content-Type, then the body.
        let body = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let project = project.into_inner();
        st.call(move |core| svc::set_override(core, &caller, &project, move || put_body(body))).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

// ---- DELETE /v1/project-quotas/{project_id} --------------------------------------------------

async fn delete_one(st: web::Data<AppState>, caller: Caller, project: web::Path<String>) -> HttpResponse {
    respond(OP, async {
        let project = project.into_inner();
        st.run(move |core| svc::delete_override(core, &caller, &project)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
