//! `/v1/{secrets|containers}/{id}/acl` (§5.7).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::{respond, ApiError};
use super::http::{base_href, fmt_ts, json_body, py_repr, py_str_repr, require_json_accept, require_json_content_type};
use super::secrets::{ctx, enforce, load};
use super::AppState;
use crate::policy::PolicyTarget;
use crate::store::acls::{self, AclChange};

pub fn secret_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/secrets/{id}/acl", "/secrets/{id}/acl/"])
            .route(web::get().to(get_secret_acl))
            .route(web::put().to(put_secret_acl))
            .route(web::patch().to(patch_secret_acl))
            .route(web::delete().to(delete_secret_acl))
            .default_service(web::to(not_allowed)),
    );
}

/// Routing 405: the secret is looked up first (§2.3.4), so a bad or unknown id is still 404.
async fn not_allowed(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("").to_string();
    match load(&st, &req, &id, false).await {
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
async fn authorize_secret(req: &HttpRequest, st: &AppState, id: &str, rule: &str, json_only: bool) -> Result<String, ApiError> {
    let s = load(st, req, id, false).await?.secret;
    if json_only {
        require_json_accept(req)?;
    }
    let ctx = ctx(req)?;
    let t = PolicyTarget::secret(&s.project_id, s.creator_id.as_deref(), false, None, false);
    enforce(st, rule, &ctx, &t)?;
    Ok(s.id)
}

async fn get_secret_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("SecretACL(s) retrieval", async {
        let id = authorize_secret(&req, &st, &id, "secret_acls:get", true).await?;
        let list = st.run(move |core| Ok(acls::list(&mut *core.conn()?, "secret", &id)?)).await?;
        Ok(HttpResponse::Ok().json(acl_json(&list)))
    }
    .await)
}

async fn write_secret_acl(req: HttpRequest, st: web::Data<AppState>, id: String, body: web::Payload, patch: bool) -> Result<HttpResponse, ApiError> {
    let id = authorize_secret(&req, &st, &id, "secret_acls:put_patch", true).await?;
    require_json_content_type(&req)?;
    let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
    let changes = parse_acl_body(&v)?;
    let href = format!("{}/v1/secrets/{id}/acl", base_href(&req, &st));
    st.run(move |core| {
        let mut c = core.conn()?;
        if patch {
            acls::patch(&mut c, "secret", &id, &changes)?;
        } else {
            acls::replace(&mut c, "secret", &id, &changes)?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"acl_ref": href})))
}

async fn put_secret_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("SecretACL(s) Update", write_secret_acl(req, st, id.into_inner(), body, false).await)
}

async fn patch_secret_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("SecretACL(s) Update", write_secret_acl(req, st, id.into_inner(), body, true).await)
}

async fn delete_secret_acl(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("SecretACL(s) deletion", async {
        let id = authorize_secret(&req, &st, &id, "secret_acls:delete", false).await?;
        st.run(move |core| Ok(acls::delete_all(&mut *core.conn()?, "secret", &id)?)).await?;
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
