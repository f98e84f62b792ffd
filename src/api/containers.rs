//! `/v1/containers` (§5.5). Container consumers are in `consumers`, container ACLs in `acls`.

use std::collections::HashSet;

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{respond, ApiError};
use super::http::{
    base_href, fmt_ts, json_body, page, paged_body, py_repr, query_get, query_pairs, require_json_accept,
    require_json_content_type, valid_uuid4,
};
use super::secrets::{ctx, enforce};
use super::validate::{check_object, Prop, Ty};
use super::AppState;
use crate::auth::RequestContext;
use crate::policy::PolicyTarget;
use crate::service::containers::{self as svc, ContainerView, NewContainerReq};
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

// ---- validation ------------------------------------------------------------------------------

const CONTAINER_SCHEMA: &str = "Container";
const CONTAINER_TYPES: [&str; 3] = ["generic", "rsa", "certificate"];

static NAME_PROP: Prop = Prop::new("name", Ty::StrOrNull).max(255);
static TYPE_PROP: Prop = Prop::new("type", Ty::Str).one_of(&CONTAINER_TYPES);
static REF_PROPS: [Prop; 2] = [
    Prop::new("name", Ty::StrOrNull).max(255),
    Prop { min_len: Some(1), ..Prop::new("secret_ref", Ty::Str) },
];

/// Of several errors at one depth, the one of the alphabetically greatest property wins (as in
/// [`check_object`]).
fn worst(errs: Vec<(&'static str, String)>) -> Option<(&'static str, String)> {
    errs.into_iter().max_by(|a, b| a.0.cmp(b.0))
}

/// A root that must be an object with `required` properties (reported with property `None`),
/// then `props` checked.
pub fn object_with_required<'a>(
    schema: &str,
    v: &'a Value,
    required: &[&str],
    props: &[Prop],
) -> Result<&'a Map<String, Value>, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::schema(schema, &format!("{} is not of type 'object'", py_repr(v)), None))?;
    if let Some(missing) = required.iter().find(|k| !obj.contains_key(**k)) {
        return Err(ApiError::schema(schema, &format!("'{missing}' is a required property"), None));
    }
    check_object(schema, v, props)
}

/// The secret id in a `secret_ref`, as Barbican's container validator and model take it: the
/// last path segment, a trailing `/` tolerated.
pub fn secret_id_from_ref(r: &str) -> String {
    if r.ends_with('/') {
        let mut parts: Vec<&str> = r.rsplitn(3, '/').collect();
        parts.reverse();
        parts.get(1).copied().unwrap_or("").to_string()
    } else {
        r.rsplit('/').next().unwrap_or(r).to_string()
    }
}

/// The `POST /v1/containers` body (schema `Container` and the container validator's rules).
/// `base` is the prefix every `secret_ref` must start with.
pub fn container_body(v: &Value, base: &str) -> Result<NewContainerReq, ApiError> {
    let bad = |reason: &str, prop: Option<&str>| ApiError::schema(CONTAINER_SCHEMA, reason, prop);
    let obj = object_with_required(CONTAINER_SCHEMA, v, &["type"], &[])?;

    // Properties of the root, then (deeper, so less relevant) the items of `secret_refs`.
    let mut errs = Vec::new();
    if let Some(r) = obj.get("name").and_then(|x| NAME_PROP.check(x)) {
        errs.push(("name", r));
    }
    if let Some(r) = obj.get("type").and_then(|x| TYPE_PROP.check(x)) {
        errs.push(("type", r));
    }
    if let Some(x) = obj.get("secret_refs").filter(|x| !x.is_array()) {
        errs.push(("secret_refs", format!("{} is not of type 'array'", py_repr(x))));
    }
    if let Some((prop, reason)) = worst(errs) {
        return Err(bad(&reason, Some(prop)));
    }
    let items: &[Value] = obj.get("secret_refs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for it in items {
        match it.as_object() {
            None => return Err(bad(&format!("{} is not of type 'object'", py_repr(it)), Some("secret_refs"))),
            Some(o) if !o.contains_key("secret_ref") => {
                return Err(bad("'secret_ref' is a required property", Some("secret_refs")))
            }
            Some(_) => {}
        }
    }
    for it in items {
        let o = it.as_object().expect("checked above");
        let errs = REF_PROPS.iter().filter_map(|p| o.get(p.name).and_then(|x| p.check(x)).map(|r| (p.name, r))).collect();
        if let Some((_, reason)) = worst(errs) {
            return Err(bad(&reason, Some("secret_refs")));
        }
    }

    let container_type = obj["type"].as_str().unwrap_or_default().to_string();
    let name = obj.get("name").and_then(Value::as_str).map(str::to_string);
    let mut refs = Vec::with_capacity(items.len());
    if !items.is_empty() {
        // Names as Barbican's set sees them: absent is '', null is None.
        let names: Vec<Option<&str>> = items
            .iter()
            .map(|it| match it.get("name") {
                None => Some(""),
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => None,
            })
            .collect();
        let name_set: HashSet<Option<&str>> = names.iter().copied().collect();
        if name_set.len() != items.len() {
            return Err(bad("Duplicate reference names are not allowed", Some("secret_refs")));
        }
        let ref_strs: Vec<&str> = items.iter().map(|it| it["secret_ref"].as_str().unwrap_or_default()).collect();
        let ids: Vec<String> = ref_strs.iter().map(|r| secret_id_from_ref(r)).collect();
        if ids.iter().collect::<HashSet<_>>().len() != items.len() {
            return Err(bad("Duplicate secret ids are not allowed", Some("secret_refs")));
        }
        if ref_strs.iter().any(|r| !r.starts_with(base)) {
            return Err(ApiError::bare(400, "Provided field value is not supported"));
        }
        let check = |allowed: &[&str], required: &[&str], unsupported: &str, minimum: &str| {
            if name_set.iter().any(|n| !n.is_some_and(|n| allowed.contains(&n))) {
                return Err(bad(unsupported, Some("secret_refs")));
            }
            if required.iter().any(|r| !name_set.contains(&Some(*r))) {
                return Err(bad(minimum, Some("secret_refs")));
            }
            Ok(())
        };
        match container_type.as_str() {
            "rsa" => check(
                &["public_key", "private_key", "private_key_passphrase"],
                &["public_key", "private_key"],
                "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
                "The minimum required reference names are 'public_key' and'private_key' for RSA type",
            )?,
            "certificate" => check(
                &["certificate", "private_key", "private_key_passphrase", "intermediates"],
                &["certificate"],
                "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type",
                "The minimum required reference name is 'certificate' for Certificate type",
            )?,
            _ => {}
        }
        for (it, id) in items.iter().zip(ids) {
            // The stored link name: absent or null is null.
            refs.push((it.get("name").and_then(Value::as_str).map(str::to_string), id));
        }
    }
    Ok(NewContainerReq { name, container_type, refs })
}

static CONTAINER_SECRET_PROPS: [Prop; 2] = [
    Prop::new("name", Ty::Str).max(255),
    Prop { min_len: Some(1), ..Prop::new("secret_ref", Ty::Str) },
];

/// The `ContainerSecret` body of `…/containers/{id}/secrets`: (name, secret_ref).
pub fn container_secret_body(v: &Value) -> Result<(Option<String>, String), ApiError> {
    let obj = object_with_required("ContainerSecret", v, &["secret_ref"], &CONTAINER_SECRET_PROPS)?;
    Ok((
        obj.get("name").and_then(Value::as_str).map(str::to_string),
        obj["secret_ref"].as_str().unwrap_or_default().to_string(),
    ))
}

/// The secret id of a `secret_ref` given to `…/containers/{id}/secrets` (last path segment).
fn last_segment(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "http://h:9311";

    fn msg(v: Value) -> String {
        match container_body(&v, BASE).unwrap_err().desc {
            super::super::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    fn r(id: &str) -> String {
        format!("{BASE}/v1/secrets/{id}")
    }

    #[test]
    fn secret_ids_from_refs() {
        assert_eq!(secret_id_from_ref("http://h/v1/secrets/abc"), "abc");
        assert_eq!(secret_id_from_ref("http://h/v1/secrets/abc/"), "abc");
        assert_eq!(secret_id_from_ref("abc"), "abc");
        assert_eq!(secret_id_from_ref("abc/"), "");
    }

    #[test]
    fn container_messages() {
        let p = "Provided object does not match schema 'Container': ";
        assert_eq!(msg(json!([])), format!("{p}[] is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(msg(json!({"name": "x"})), format!("{p}'type' is a required property. Invalid property: 'None'"));
        assert_eq!(msg(json!({"type": "dsa"})), format!("{p}'dsa' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'"));
        assert_eq!(msg(json!({"type": "generic", "name": 5})), format!("{p}5 is not of type 'string', 'null'. Invalid property: 'name'"));
        assert_eq!(msg(json!({"type": "generic", "secret_refs": "x"})), format!("{p}'x' is not of type 'array'. Invalid property: 'secret_refs'"));
        assert_eq!(msg(json!({"type": "generic", "secret_refs": [{"name": "a"}]})), format!("{p}'secret_ref' is a required property. Invalid property: 'secret_refs'"));
        assert_eq!(msg(json!({"type": "generic", "secret_refs": [{"secret_ref": ""}]})), format!("{p}'' should be non-empty. Invalid property: 'secret_refs'"));
        assert_eq!(
            msg(json!({"type": "generic", "secret_refs": [{"secret_ref": r("a")}, {"secret_ref": r("b")}]})),
            format!("{p}Duplicate reference names are not allowed. Invalid property: 'secret_refs'")
        );
        assert_eq!(
            msg(json!({"type": "generic", "secret_refs": [{"name": "x", "secret_ref": r("a")}, {"name": "y", "secret_ref": r("a/")}]})),
            format!("{p}Duplicate secret ids are not allowed. Invalid property: 'secret_refs'")
        );
        assert_eq!(msg(json!({"type": "generic", "secret_refs": [{"name": "x", "secret_ref": "a"}]})), "Provided field value is not supported");
        assert_eq!(
            msg(json!({"type": "rsa", "secret_refs": [{"name": "public_key", "secret_ref": r("a")}]})),
            format!("{p}The minimum required reference names are 'public_key' and'private_key' for RSA type. Invalid property: 'secret_refs'")
        );
        assert_eq!(
            msg(json!({"type": "certificate", "secret_refs": [{"name": "x", "secret_ref": r("a")}]})),
            format!("{p}only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type. Invalid property: 'secret_refs'")
        );
        // An absent and a null name differ; two nulls collide.
        let ok = container_body(&json!({"type": "generic", "secret_refs": [{"secret_ref": r("a")}, {"name": null, "secret_ref": r("b")}]}), BASE).unwrap();
        assert_eq!(ok.refs, vec![(None, "a".to_string()), (None, "b".to_string())]);
        assert!(container_body(&json!({"type": "rsa", "secret_refs": []}), BASE).unwrap().refs.is_empty());
    }
}
