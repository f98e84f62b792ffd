//! `/v1/{secrets|containers}/{id}/acl` (§5.7).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::{respond, ApiError};
use super::http::{base_href, fmt_ts, json_body, py_repr, py_str_repr, require_json_accept, require_json_content_type};
use super::secrets::{ctx, enforce};
use super::AppState;
use crate::policy::PolicyTarget;
use crate::store::acls::{self, AclChange};

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

/// The `ACL` schema: `{"read": {"users": [str…], "project-access": bool}}`, nothing else.
pub fn parse_acl_body(v: &Value) -> Result<Vec<AclChange>, ApiError> {
    const SCHEMA: &str = "ACL";
    let err = |reason: String, prop: Option<&str>| ApiError::schema(SCHEMA, &reason, prop);
    let obj = v.as_object().ok_or_else(|| err(format!("{} is not of type 'object'", py_repr(v)), None))?;
    if let Some(k) = obj.keys().find(|k| *k != "read") {
        return Err(err(format!("Additional properties are not allowed ({} was unexpected)", py_str_repr(k)), None));
    }
    let mut out = Vec::new();
    for (op, body) in obj {
        let b = body.as_object().ok_or_else(|| err(format!("{} is not of type 'object'", py_repr(body)), Some(op)))?;
        if let Some(k) = b.keys().find(|k| *k != "users" && *k != "project-access") {
            return Err(err(format!("Additional properties are not allowed ({} was unexpected)", py_str_repr(k)), Some(op)));
        }
        let users = match b.get("users") {
            None => None,
            Some(Value::Array(items)) => {
                // Barbican's schema types only the first item (a QUIRK we keep stricter: all).
                let mut users = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::String(s) if s.chars().count() <= 255 => users.push(s.clone()),
                        Value::String(s) => return Err(err(format!("{} is too long", py_str_repr(s)), Some(op))),
                        other => return Err(err(format!("{} is not of type 'string'", py_repr(other)), Some(op))),
                    }
                }
                Some(users)
            }
            Some(other) => return Err(err(format!("{} is not of type 'array'", py_repr(other)), Some(op))),
        };
        let project_access = match b.get("project-access") {
            None => None,
            Some(Value::Bool(x)) => Some(*x),
            Some(other) => return Err(err(format!("{} is not of type 'boolean'", py_repr(other)), Some(op))),
        };
        if b.is_empty() {
            continue; // `"read": {}` means back to the default
        }
        out.push(AclChange { operation: op.clone(), project_access, users });
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(v: Value) -> String {
        match parse_acl_body(&v).unwrap_err().desc {
            super::super::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    #[test]
    fn acl_schema_messages() {
        assert_eq!(msg(json!({"write": {}})), "Provided object does not match schema 'ACL': Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'");
        assert_eq!(msg(json!({"read": {"users": "u2"}})), "Provided object does not match schema 'ACL': 'u2' is not of type 'array'. Invalid property: 'read'");
        assert_eq!(msg(json!({"read": {"project-access": "false"}})), "Provided object does not match schema 'ACL': 'false' is not of type 'boolean'. Invalid property: 'read'");
        let ok = parse_acl_body(&json!({"read": {"users": ["a", "b"]}})).unwrap();
        assert_eq!(ok[0].users.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert!(parse_acl_body(&json!({"read": {}})).unwrap().is_empty());
    }
}
