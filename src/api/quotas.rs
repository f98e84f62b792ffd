//! `/v1/quotas` and `/v1/project-quotas` (§5.9).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::error::{respond, ApiError};
use super::http::{
    base_href, page, paged_body, py_repr, py_str_repr, query_pairs, read_body, require_json_accept,
    require_json_content_type, strip_strings,
};
use super::secrets::{ctx, enforce};
use super::validate::{Prop, Ty};
use super::AppState;
use crate::policy::PolicyTarget;
use crate::service::quotas::{self as svc, RESOURCES};
use crate::store::quotas::{QuotaRow, QuotaUpdate};

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

async fn get_quotas(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Quotas", async {
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "quotas:get", &ctx, &PolicyTarget::none())?;
        let project = ctx.project().to_string();
        let values = st.run(move |core| svc::effective_all(core, &project)).await?;
        let mut m = Map::new();
        for ((_, name), (_, v)) in RESOURCES.iter().zip(values) {
            m.insert(name.to_string(), Value::from(v));
        }
        Ok(HttpResponse::Ok().json(serde_json::json!({ "quotas": m })))
    }
    .await)
}

/// An override row as Barbican prints it: all five keys, null when unset.
fn overrides_json(row: &QuotaRow) -> Value {
    let mut m = Map::new();
    for (r, name) in RESOURCES {
        m.insert(name.to_string(), svc::override_of(row, r).map(Value::from).unwrap_or(Value::Null));
    }
    Value::Object(m)
}

// ---- GET /v1/project-quotas ------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond(OP, async {
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "project_quotas:get", &ctx, &PolicyTarget::none())?;
        let pg = page(&query_pairs(&req), &st);
        let (rows, total) = st.run(move |core| svc::list_overrides(core, pg)).await?;
        let items = rows
            .iter()
            .map(|r| serde_json::json!({"project_id": r.project_id, "project_quotas": overrides_json(r)}))
            .collect();
        // Barbican's links name the collection `project_quotas` (a URL that does not exist).
        let base = base_href(&req, &st);
        Ok(HttpResponse::Ok().json(paged_body("project_quotas", items, total, pg, &format!("{base}/v1/project_quotas"), &[])))
    }
    .await)
}

// ---- GET /v1/project-quotas/{project_id} -----------------------------------------------------

async fn get_one(req: HttpRequest, st: web::Data<AppState>, project: web::Path<String>) -> HttpResponse {
    respond(OP, async {
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "project_quotas:get", &ctx, &PolicyTarget::none())?;
        let project = project.into_inner();
        let row = st.run(move |core| svc::get_override(core, &project)).await?;
        Ok(HttpResponse::Ok().json(serde_json::json!({ "project_quotas": overrides_json(&row) })))
    }
    .await)
}

// ---- PUT /v1/project-quotas/{project_id} -----------------------------------------------------

const SCHEMA: &str = "Project Quota";
const BODY_KEY: &str = "project_quotas";

/// The `Project Quota` schema: `{"project_quotas": {<resource>: integer, ...}}`, nothing else at
/// either level. Errors are reported as jsonschema's `best_match` picks them: the shallowest
/// first; among inner values, the greatest key.
pub fn project_quota_body(v: &Value) -> Result<QuotaUpdate, ApiError> {
    let err = |reason: String, prop: Option<&str>| ApiError::schema(SCHEMA, &reason, prop);
    let not_object = |v: &Value| format!("{} is not of type 'object'", py_repr(v));
    let extras = |o: &Map<String, Value>, allowed: &[&str]| -> Option<String> {
        let extra: Vec<&String> = o.keys().filter(|k| !allowed.contains(&k.as_str())).collect();
        if extra.is_empty() {
            return None;
        }
        let verb = if extra.len() == 1 { "was" } else { "were" };
        let list = extra.iter().map(|k| py_str_repr(k)).collect::<Vec<_>>().join(", ");
        Some(format!("Additional properties are not allowed ({list} {verb} unexpected)"))
    };
    let root = v.as_object().ok_or_else(|| err(not_object(v), None))?;
    let Some(inner) = root.get(BODY_KEY) else {
        return Err(err(format!("'{BODY_KEY}' is a required property"), None));
    };
    if let Some(m) = extras(root, &[BODY_KEY]) {
        return Err(err(m, None));
    }
    let inner = inner.as_object().ok_or_else(|| err(not_object(inner), Some(BODY_KEY)))?;
    let names: Vec<&str> = RESOURCES.iter().map(|(_, n)| *n).collect();
    if let Some(m) = extras(inner, &names) {
        return Err(err(m, Some(BODY_KEY)));
    }
    // Values are stored in INTEGER columns: outside 32 bits is refused rather than failing in
    // the database.
    let int = Prop::new("", Ty::Int).range(i32::MIN as i64, i32::MAX as i64);
    if let Some(reason) =
        names.iter().filter_map(|n| inner.get(*n).and_then(|val| int.check(val)).map(|r| (*n, r))).max_by(|a, b| a.0.cmp(b.0)).map(|(_, r)| r)
    {
        return Err(err(reason, Some(BODY_KEY)));
    }
    let get = |n: &str| inner.get(n).and_then(Value::as_f64).map(|f| f as i32);
    Ok(QuotaUpdate {
        secrets: get("secrets"),
        orders: get("orders"),
        containers: get("containers"),
        consumers: get("consumers"),
        cas: get("cas"),
    })
}

async fn put_one(req: HttpRequest, st: web::Data<AppState>, project: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond(OP, async {
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "project_quotas:put", &ctx, &PolicyTarget::none())?;
        require_json_content_type(&req)?;
        let (bytes, overflow) = read_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        if bytes.is_empty() {
            return Err(ApiError::issue(400, "No data supplied to process."));
        }
        if overflow {
            return Err(ApiError::malformed_json());
        }
        let mut v: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::malformed_json())?;
        strip_strings(&mut v);
        let update = project_quota_body(&v)?;
        let project = project.into_inner();
        st.run(move |core| svc::set_override(core, &project, &update)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

// ---- DELETE /v1/project-quotas/{project_id} --------------------------------------------------

async fn delete_one(req: HttpRequest, st: web::Data<AppState>, project: web::Path<String>) -> HttpResponse {
    respond(OP, async {
        let ctx = ctx(&req)?;
        enforce(&st, "project_quotas:delete", &ctx, &PolicyTarget::none())?;
        let project = project.into_inner();
        st.run(move |core| svc::delete_override(core, &project)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        match project_quota_body(&v).unwrap_err().desc {
            super::super::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    const P: &str = "Provided object does not match schema 'Project Quota': ";

    #[test]
    fn schema_messages() {
        assert_eq!(msg(json!({})), format!("{P}'project_quotas' is a required property. Invalid property: 'None'"));
        assert_eq!(msg(json!({"foo": 1})), format!("{P}'project_quotas' is a required property. Invalid property: 'None'"));
        assert_eq!(msg(json!([1])), format!("{P}[1] is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(
            msg(json!({"project_quotas": {}, "foo": 1})),
            format!("{P}Additional properties are not allowed ('foo' was unexpected). Invalid property: 'None'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"foo": 1}})),
            format!("{P}Additional properties are not allowed ('foo' was unexpected). Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"foo": 1, "bar": 2, "secrets": "x"}})),
            format!("{P}Additional properties are not allowed ('bar', 'foo' were unexpected). Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"secrets": "2"}})),
            format!("{P}'2' is not of type 'integer'. Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"cas": null, "orders": true}})),
            format!("{P}True is not of type 'integer'. Invalid property: 'project_quotas'")
        );
        assert_eq!(
            msg(json!({"project_quotas": {"secrets": 1.5}})),
            format!("{P}1.5 is not of type 'integer'. Invalid property: 'project_quotas'")
        );
        assert_eq!(msg(json!({"project_quotas": 5})), format!("{P}5 is not of type 'object'. Invalid property: 'project_quotas'"));
        assert_eq!(
            msg(json!({"project_quotas": {"secrets": 4294967296i64}})),
            format!("{P}4294967296 is greater than the maximum of 2147483647. Invalid property: 'project_quotas'")
        );
    }

    #[test]
    fn values() {
        assert_eq!(project_quota_body(&json!({"project_quotas": {}})).unwrap(), QuotaUpdate::default());
        let u = project_quota_body(&json!({"project_quotas": {"secrets": 3, "cas": -7, "orders": 2.0}})).unwrap();
        assert_eq!(u, QuotaUpdate { secrets: Some(3), orders: Some(2), containers: None, consumers: None, cas: Some(-7) });
    }
}
