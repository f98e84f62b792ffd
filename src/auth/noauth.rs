//! Barbican's `unauthenticated-context` middleware (§3.2): the context comes from raw headers.
//! Only for development and tests; the server warns at every start when it is on.

use actix_web::http::header::HeaderMap;

use super::{AuthFailure, RequestContext};

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub fn context(h: &HeaderMap, admin_role: &str) -> Result<RequestContext, AuthFailure> {
    let project_id = header(h, "x-project-id").ok_or(AuthFailure::MissingProjectId)?;
    let mut roles: Vec<String> = header(h, "x-roles")
        .map(|r| {
            r.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect()
        })
        .unwrap_or_default();
    if roles.is_empty() {
        roles.push(admin_role.to_lowercase());
    }
    Ok(RequestContext {
        user_id: header(h, "x-user-id"),
        project_id: Some(project_id),
        roles,
        domain_id: header(h, "x-domain-id"),
        user_domain_id: header(h, "x-user-domain-id"),
        project_domain_id: header(h, "x-project-domain-id"),
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
        assert_eq!(c.roles, vec!["admin"]);
        assert_eq!(c.user_id, None);
        let c = context(&map(&[("X-Project-Id", "p1"), ("X-Roles", " Creator , OBSERVER"), ("X-User-Id", "u")]), "admin").unwrap();
        assert_eq!(c.roles, vec!["creator", "observer"]);
        assert_eq!(c.user_id.as_deref(), Some("u"));
    }
}
