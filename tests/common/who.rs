//! Callers of the noauth pipeline and the small request/assertion helpers the route suites
//! share (acls, consumers, containers).

use portcullis::store::DbUrl;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use super::TestServer;

/// A caller: project, roles (never empty: an empty X-Roles means admin) and an optional user id.
#[derive(Clone, Copy)]
pub struct Who<'a> {
    pub project: &'a str,
    pub roles: &'a str,
    pub user: Option<&'a str>,
}

pub fn who<'a>(project: &'a str, roles: &'a str, user: &'a str) -> Who<'a> {
    Who { project, roles, user: Some(user) }
}

/// A project admin without a user id.
pub fn admin(project: &str) -> Who<'_> {
    Who { project, roles: "admin", user: None }
}

/// A request as `w`.
pub fn call(s: &TestServer, m: Method, path: &str, w: Who) -> RequestBuilder {
    let mut rb = s.req(m, path, w.project).header("X-Roles", w.roles);
    if let Some(u) = w.user {
        rb = rb.header("X-User-Id", u);
    }
    rb
}

pub fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Barbican's 403 description for an operation.
pub fn denied(op: &str) -> String {
    format!("{op} attempt not allowed - please review your user/project privileges")
}

/// The title of Barbican's error body for a status.
pub fn title(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        _ => "?",
    }
}

/// The request fails with `code` and Barbican's body with `desc`.
pub async fn expect(rb: RequestBuilder, code: u16, desc: &str) {
    super::assert_error(rb.send().await.unwrap(), code, title(code), Some(desc)).await;
}

pub async fn status(rb: RequestBuilder) -> u16 {
    rb.send().await.unwrap().status().as_u16()
}

/// The last path segment of an href.
pub fn id_of(href: &str) -> String {
    href.rsplit('/').next().unwrap().to_string()
}

/// An object's keys, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap_or_else(|| panic!("object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, no zone (§2.7).
pub fn ts(v: &Value) -> chrono::NaiveDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp string: {v}"));
    assert!(s.len() == 19 || (s.len() == 26 && &s[19..20] == "."), "timestamp format: {s}");
    assert!(!s.ends_with('Z') && !s.contains('+'), "no zone: {s}");
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").expect("timestamp parses")
}

/// A direct connection to the test server's database.
pub fn db(s: &TestServer) -> portcullis::store::DbConn {
    DbUrl::parse(&s.db_url).unwrap().establish().expect("connect")
}
