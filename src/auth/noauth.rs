//! Barbican's `unauthenticated-context` middleware (§3.2): the context comes from raw headers.
//! Only for development and tests; the server warns at every start when it is on.

use actix_web::http::header::HeaderMap;

use super::{AuthFailure, RequestContext};

/// Longest identity header value taken (Barbican's project and user id columns are 255 wide;
/// the role list gets room for a few dozen roles).
pub const MAX_ID_HEADER: usize = 255;
const MAX_ROLES_HEADER: usize = 4096;

fn header(h: &HeaderMap, name: &'static str) -> Result<Option<String>, AuthFailure> {
    let Some(v) = h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let max = if name == "x-roles" { MAX_ROLES_HEADER } else { MAX_ID_HEADER };
    if v.len() > max || v.contains('\0') {
        return Err(AuthFailure::BadHeader(name, max));
    }
    Ok(Some(v.to_string()))
}

pub fn context(h: &HeaderMap, admin_role: &str) -> Result<RequestContext, AuthFailure> {
    let project_id = header(h, "x-project-id")?.ok_or(AuthFailure::MissingProjectId)?;
    let mut roles: Vec<String> = header(h, "x-roles")?
        .map(|r| {
            r.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect()
        })
        .unwrap_or_default();
    if roles.is_empty() {
        // The admin role and the roles Keystone's default role implications give it (admin ->
        // member -> reader), so that a bare request passes the secure-RBAC defaults too.
        roles.push(admin_role.to_lowercase());
        roles.extend(["member".to_string(), "reader".to_string()]);
    }
    Ok(RequestContext {
        user_id: header(h, "x-user-id")?,
        project_id: Some(project_id),
        roles,
        domain_id: header(h, "x-domain-id")?,
        user_domain_id: header(h, "x-user-domain-id")?,
        project_domain_id: header(h, "x-project-domain-id")?,
        ..RequestContext::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn builds_context_like_barbican() {
        assert_eq!(context(&map(&[]), "admin").unwrap_err(), AuthFailure::MissingProjectId);
        let c = context(&map(&[("X-Project-Id", "p1")]), "admin").unwrap();
        assert_eq!(c.roles, vec!["admin", "member", "reader"]);
        assert_eq!(c.user_id, None);
        let c = context(&map(&[("X-Project-Id", "p1"), ("X-Roles", " Creator , OBSERVER"), ("X-User-Id", "u")]), "admin").unwrap();
        assert_eq!(c.roles, vec!["creator", "observer"]);
        assert_eq!(c.user_id.as_deref(), Some("u"));
    }

    #[test]
    fn header_values_are_bounded() {
        let long = "p".repeat(MAX_ID_HEADER + 1);
        assert_eq!(context(&map(&[("X-Project-Id", &long)]), "admin").unwrap_err(), AuthFailure::BadHeader("x-project-id", 255));
        let ok = "p".repeat(MAX_ID_HEADER);
        assert!(context(&map(&[("X-Project-Id", &ok)]), "admin").is_ok());
        let user = "u".repeat(300);
        assert!(matches!(context(&map(&[("X-Project-Id", "p"), ("X-User-Id", &user)]), "admin"),
            Err(AuthFailure::BadHeader("x-user-id", _))));
    }
}
