//! `/v1/{secrets|containers}/{id}/acl` (§5.7).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::{respond, ApiError};
use super::http::{base_href, fmt_ts, json_body, require_json_accept, require_json_content_type};
use super::secrets::{ctx, enforce};
use super::AppState;
use crate::policy::PolicyTarget;
use super::validate::acl::parse_acl_body;
use crate::store::acls;

/// The two kinds of entity that have ACLs: same semantics, own rules and operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Secret,
    Container,
}

impl Entity {
    /// `entity_type` in the store and `target.<kind>.*` in policy.
    pub fn kind(self) -> &'static str {
        match self {
            Entity::Secret => "secret",
            Entity::Container => "container",
        }
    }
    fn collection(self) -> &'static str {
        match self {
            Entity::Secret => "secrets",
            Entity::Container => "containers",
        }
    }
    fn op_get(self) -> &'static str {
        match self {
            Entity::Secret => "SecretACL(s) retrieval",
            Entity::Container => "ContainerACL(s) retrieval",
        }
    }
    fn op_update(self) -> &'static str {
        match self {
            Entity::Secret => "SecretACL(s) Update",
            Entity::Container => "ContainerACL(s) Update",
        }
    }
    fn op_delete(self) -> &'static str {
        match self {
            Entity::Secret => "SecretACL(s) deletion",
            Entity::Container => "ContainerACL(s) deletion",
        }
    }
    fn rule(self, action: &str) -> String {
        format!("{}_acls:{action}", self.kind())
    }
}

pub fn secret_routes(cfg: &mut web::ServiceConfig) {
    acl_routes(cfg, Entity::Secret);
}

pub fn container_routes(cfg: &mut web::ServiceConfig) {
    acl_routes(cfg, Entity::Container);
}

fn acl_routes(cfg: &mut web::ServiceConfig, e: Entity) {
    let path = format!("/{}/{{id}}/acl", e.collection());
    cfg.service(
        web::resource([path.clone(), format!("{path}/")])
            .route(web::get().to(move |req, st, id| get_acl(req, st, id, e)))
            .route(web::put().to(move |req, st, id, body| write_acl(req, st, id, body, e, false)))
            .route(web::patch().to(move |req, st, id, body| write_acl(req, st, id, body, e, true)))
            .route(web::delete().to(move |req, st, id| delete_acl(req, st, id, e)))
            .default_service(web::to(move |req, st| not_allowed(req, st, e))),
    );
}

/// The entity's id, project and creator, after its id check and look-up.
async fn lookup(req: &HttpRequest, st: &AppState, id: &str, e: Entity) -> Result<(String, String, Option<String>), ApiError> {
    Ok(match e {
        Entity::Secret => {
            let s = super::secrets::load(st, req, id, false).await?.secret;
            (s.id, s.project_id, s.creator_id)
        }
        Entity::Container => {
            let c = super::containers::load(st, req, id).await?.container;
            (c.id, c.project_id, c.creator_id)
        }
    })
}

/// Routing 405: the entity is looked up first (§2.3.4), so a bad or unknown id is still 404.
async fn not_allowed(req: HttpRequest, st: web::Data<AppState>, e: Entity) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    match lookup(&req, &st, &id, e).await {
        Ok(_) => ApiError::method_not_allowed("DELETE, GET, PATCH, PUT").render(""),
        Err(e) => e.render(""),
    }
}

pub fn acl_json(list: &[acls::Acl]) -> Value {
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

/// Look-up, then the policy on a target with only the entity's project and creator (§4.1).
async fn authorize(req: &HttpRequest, st: &AppState, id: &str, e: Entity, action: &str, json_only: bool) -> Result<String, ApiError> {
    let (id, project, creator) = lookup(req, st, id, e).await?;
    if json_only {
        require_json_accept(req)?;
    }
    let ctx = ctx(req)?;
    let t = PolicyTarget::entity(e.kind(), &project, creator.as_deref(), false, None, false);
    enforce(st, &e.rule(action), &ctx, &t)?;
    Ok(id)
}

async fn get_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, e: Entity) -> HttpResponse {
    respond(e.op_get(), async {
        let id = authorize(&req, &st, &id, e, "get", true).await?;
        let list = st.run(move |core| Ok(acls::list(&mut *core.conn()?, e.kind(), &id)?)).await?;
        Ok(HttpResponse::Ok().json(acl_json(&list)))
    }
    .await)
}

async fn write_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload, e: Entity, patch: bool) -> HttpResponse {
    respond(e.op_update(), async {
        let id = authorize(&req, &st, &id, e, "put_patch", true).await?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let changes = parse_acl_body(&v)?;
        let href = format!("{}/v1/{}/{id}/acl", base_href(&req, &st), e.collection());
        st.run(move |core| {
            let mut c = core.conn()?;
            if patch {
                acls::patch(&mut c, e.kind(), &id, &changes)?;
            } else {
                acls::replace(&mut c, e.kind(), &id, &changes)?;
            }
            Ok(())
        })
        .await?;
        Ok(HttpResponse::Ok().json(json!({"acl_ref": href})))
    }
    .await)
}

async fn delete_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, e: Entity) -> HttpResponse {
    respond(e.op_delete(), async {
        let id = authorize(&req, &st, &id, e, "delete", false).await?;
        st.run(move |core| Ok(acls::delete_all(&mut *core.conn()?, e.kind(), &id)?)).await?;
        Ok(HttpResponse::Ok().content_type("application/json").body("null"))
    }
    .await)
}
