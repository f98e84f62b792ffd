//! `/v1/{secrets|containers}/{id}/acl` (§5.7). Each route makes one service call (look-up,
//! policy and operation in one blocking hop).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::containers::container_id;
use super::error::{respond, ApiError};
use super::http::{base_href, fmt_ts, json_accept, require_json_content_type, LaterBody};
use super::secrets::secret_id;
use super::validate::acl::parse_acl_body;
use super::AppState;
use crate::model::Acl;
use crate::service::access::Caller;
use crate::service::acls::{self as svc, Entity, Owned};

fn collection(e: Entity) -> &'static str {
    match e {
        Entity::Secret => "secrets",
        Entity::Container => "containers",
    }
}

fn op_get(e: Entity) -> &'static str {
    match e {
        Entity::Secret => "SecretACL(s) retrieval",
        Entity::Container => "ContainerACL(s) retrieval",
    }
}

fn op_update(e: Entity) -> &'static str {
    match e {
        Entity::Secret => "SecretACL(s) Update",
        Entity::Container => "ContainerACL(s) Update",
    }
}

fn op_delete(e: Entity) -> &'static str {
    match e {
        Entity::Secret => "SecretACL(s) deletion",
        Entity::Container => "ContainerACL(s) deletion",
    }
}

/// The entity id of the path: 404 before any look-up when it is not a UUID4, with the
/// entity's own message.
fn entity_id(e: Entity, id: &str) -> Result<String, ApiError> {
    match e {
        Entity::Secret => secret_id(id),
        Entity::Container => container_id(id),
    }
}

pub fn secret_routes(cfg: &mut web::ServiceConfig) {
    acl_routes(cfg, Entity::Secret);
}

pub fn container_routes(cfg: &mut web::ServiceConfig) {
    acl_routes(cfg, Entity::Container);
}

fn acl_routes(cfg: &mut web::ServiceConfig, e: Entity) {
    let path = format!("/{}/{{id}}/acl", collection(e));
    cfg.service(
        web::resource([path.clone(), format!("{path}/")])
            .route(web::get().to(move |req, st, caller, id| get_acl(req, st, caller, id, e)))
            .route(web::put().to(move |req, st, caller, id, body| write_acl(req, st, caller, id, body, e, false)))
            .route(web::patch().to(move |req, st, caller, id, body| write_acl(req, st, caller, id, body, e, true)))
            .route(web::delete().to(move |st, caller, id| delete_acl(st, caller, id, e)))
            .default_service(web::to(move |req, st| not_allowed(req, st, e))),
    );
}

/// Routing 405: the entity is looked up first (§2.3.4), so a bad or unknown id is still 404.
async fn not_allowed(req: HttpRequest, st: web::Data<AppState>, e: Entity) -> HttpResponse {
    let r = async {
        let id = entity_id(e, req.match_info().get("id").unwrap_or(""))?;
        st.call(move |core| svc::exists(core, e, &id)).await
    };
    match r.await {
        Ok(()) => ApiError::method_not_allowed("DELETE, GET, PATCH, PUT").render(""),
        Err(e) => e.render(""),
    }
}

pub fn acl_json(list: &[Acl]) -> Value {
    if list.is_empty() {
        return json!({"read": {"project-access": true}});
    }
    let mut m = Map::new();
    for a in list {
        m.insert(
            a.operation.clone(),
            json!({"project-access": a.project_access, "users": a.users,
                   "created": fmt_ts(&a.created_at), "updated": fmt_ts(&a.updated_at)}),
        );
    }
    Value::Object(m)
}

async fn get_acl(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, e: Entity) -> HttpResponse {
    respond(op_get(e), async {
        let id = entity_id(e, &id)?;
        let pre = json_accept::<Owned>(&req);
        let list = st.call(move |core| svc::get(core, &caller, e, &id, pre)).await?;
        Ok(HttpResponse::Ok().json(acl_json(&list)))
    }
    .await)
}

async fn write_acl(
    req: HttpRequest,
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Payload,
    e: Entity,
    patch: bool,
) -> HttpResponse {
    respond(op_update(e), async {
        let id = entity_id(e, &id)?;
        let pre = json_accept::<Owned>(&req);
        // After policy: Content-Type, then the body.
        let content_type = require_json_content_type(&req);
        let raw = LaterBody::read_any(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || {
            content_type?;
            parse_acl_body(&*raw.json()?)
        };
        let href = format!("{}/v1/{}/{id}/acl", base_href(&req, &st), collection(e));
        st.call(move |core| svc::set(core, &caller, e, &id, pre, input, patch)).await?;
        Ok(HttpResponse::Ok().json(json!({"acl_ref": href})))
    }
    .await)
}

async fn delete_acl(st: web::Data<AppState>, caller: Caller, id: web::Path<String>, e: Entity) -> HttpResponse {
    respond(op_delete(e), async {
        let id = entity_id(e, &id)?;
        st.call(move |core| svc::remove(core, &caller, e, &id)).await?;
        Ok(HttpResponse::Ok().content_type("application/json").body("null"))
    }
    .await)
}
