//! CADF events in the shape keystonemiddleware's audit middleware emits (`audit.http.response`
//! payload, pycadf `Event.as_dict()`), with Barbican's audit map (etc/barbican/api_audit_map.conf):
//! path keywords `secrets containers orders cas quotas project-quotas`, `acl/get = read`, and
//! the target type `service/security/keymanager`; plus the keyword `keys` (managed keys: every
//! operation on a key, allowed or refused, is an event whose target is the key).
//!
//! What goes in: who (user, project, client address and agent), what (action, target href,
//! request path), the request id and the HTTP status. Never a body, a header value other than
//! the User-Agent, or a token.

use serde::Serialize;

use super::uuid4;

/// Barbican's `[path_keywords]`: (keyword, value appended to the target type after an id).
const PATH_KW: &[(&str, &str)] =
    &[("secrets", ""), ("containers", ""), ("orders", ""), ("cas", "None"), ("quotas", ""), ("project-quotas", ""), ("keys", "")];

const TARGET_TYPE: &str = "service/security/keymanager";

/// The facts of one answered request.
pub struct Facts<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// Path as received, and the query string (may be empty).
    pub path: &'a str,
    pub query: &'a str,
    pub user_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub client_addr: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub status: u16,
    /// The service's base href (`https://kms.example.com`), for the target's href.
    pub base_href: &'a str,
    /// The `Location` of a 201 (the href of what was created).
    pub location: Option<&'a str>,
}

#[derive(Serialize)]
struct Host<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
}

#[derive(Serialize)]
struct Initiator<'a> {
    id: &'a str,
    #[serde(rename = "typeURI")]
    type_uri: &'static str,
    name: &'a str,
    host: Host<'a>,
    project_id: &'a str,
    request_id: &'a str,
}

#[derive(Serialize)]
struct Target<'a> {
    id: &'a str,
    #[serde(rename = "typeURI")]
    type_uri: &'a str,
    name: &'static str,
}

#[derive(Serialize)]
struct Id {
    id: &'static str,
}

#[derive(Serialize)]
struct Reason {
    #[serde(rename = "reasonType")]
    reason_type: &'static str,
    #[serde(rename = "reasonCode")]
    reason_code: String,
}

#[derive(Serialize)]
struct Step<'a> {
    role: &'static str,
    #[serde(rename = "reporterTime")]
    reporter_time: &'a str,
    reporter: Id,
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "typeURI")]
    type_uri: &'static str,
    #[serde(rename = "eventType")]
    event_type: &'static str,
    id: String,
    #[serde(rename = "eventTime")]
    event_time: &'a str,
    action: &'a str,
    outcome: &'static str,
    observer: Id,
    initiator: Initiator<'a>,
    target: Target<'a>,
    #[serde(rename = "requestPath")]
    request_path: &'a str,
    tags: [String; 1],
    reason: Reason,
    reporterchain: [Step<'a>; 1],
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn kw(s: &str) -> Option<&'static str> {
    let s = s.strip_suffix(".json").unwrap_or(s);
    PATH_KW.iter().find(|(k, _)| *k == s).map(|(_, v)| *v)
}

/// keystonemiddleware's `get_action` with Barbican's map.
pub fn action(method: &str, path: &str) -> &'static str {
    let ending = segments(path).last().unwrap_or("");
    let ending = ending.strip_suffix(".json").unwrap_or(ending);
    if ending == "acl" && method == "GET" {
        return "read"; // [custom_actions] acl/get = read
    }
    let known = kw(ending).is_some();
    match method {
        "POST" if known => "create",
        "POST" => "update",
        "GET" if known => "read/list",
        "GET" | "HEAD" => "read",
        "PUT" | "PATCH" => "update",
        "DELETE" => "delete",
        _ => "unknown",
    }
}

/// keystonemiddleware's `_build_typeURI`: the service type, then each keyword of the path
/// (and, after a keyword, its mapped value: `secrets/` for `/v1/secrets/{id}`).
pub fn target_type(path: &str) -> String {
    let mut t = String::from(TARGET_TYPE);
    let mut prev: Option<&str> = None;
    for key in path.split('/') {
        let key = key.strip_suffix(".json").unwrap_or(key);
        if kw(key).is_some() {
            t.push('/');
            t.push_str(key);
        } else if let Some(v) = prev.and_then(kw) {
            t.push('/');
            t.push_str(v);
        }
        prev = Some(key);
    }
    t
}

/// The href of the secret, container or order the path names (`/v1/secrets/{id}/...`), else
/// the `Location` of what a 201 created, else the collection or resource the path names.
pub fn target_href(f: &Facts) -> String {
    let seg: Vec<&str> = segments(f.path).collect();
    if let ["v1", kind @ ("secrets" | "containers" | "orders" | "keys"), id, ..] = seg.as_slice() {
        return format!("{}/v1/{kind}/{id}", f.base_href);
    }
    if let Some(l) = f.location.filter(|_| f.status == 201) {
        return l.to_string();
    }
    format!("{}/{}", f.base_href, seg.join("/"))
}

/// pycadf's time format (`%Y-%m-%dT%H:%M:%S.%f%z`, UTC).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string()
}

/// The event as one JSON line (no newline).
pub fn event(f: &Facts) -> Vec<u8> {
    let time = now();
    let request_path = if f.query.is_empty() { f.path.to_string() } else { format!("{}?{}", f.path, f.query) };
    let href = target_href(f);
    let type_uri = target_type(f.path);
    let ev = Event {
        type_uri: "http://schemas.dmtf.org/cloud/audit/1.0/event",
        event_type: "activity",
        id: uuid4(),
        event_time: &time,
        action: action(f.method, f.path),
        outcome: if (200..400).contains(&f.status) { "success" } else { "failure" },
        observer: Id { id: "target" },
        initiator: Initiator {
            id: f.user_id.unwrap_or("unknown"),
            type_uri: "service/security/account/user",
            name: "unknown",
            host: Host { address: f.client_addr, agent: f.agent },
            project_id: f.project_id.unwrap_or("unknown"),
            request_id: f.request_id,
        },
        target: Target { id: &href, type_uri: &type_uri, name: "portcullis" },
        request_path: &request_path,
        tags: [format!("correlation_id?value={}", uuid4())],
        reason: Reason { reason_type: "HTTP", reason_code: f.status.to_string() },
        reporterchain: [Step { role: "modifier", reporter_time: &time, reporter: Id { id: "target" } }],
    };
    serde_json::to_vec(&ev).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values keystonemiddleware 13 computes with Barbican's map for the same requests.
    #[test]
    fn actions_and_types_as_keystonemiddleware() {
        let cases = [
            ("GET", "/v1/secrets", "read/list", "service/security/keymanager/secrets"),
            ("POST", "/v1/secrets", "create", "service/security/keymanager/secrets"),
            ("DELETE", "/v1/secrets/abc", "delete", "service/security/keymanager/secrets/"),
            ("GET", "/v1/secrets/abc/acl", "read", "service/security/keymanager/secrets/"),
            ("POST", "/v1/containers/abc/consumers", "update", "service/security/keymanager/containers/"),
            ("PUT", "/v1/secrets/abc/metadata/k", "update", "service/security/keymanager/secrets/"),
            ("GET", "/v1/orders/abc", "read", "service/security/keymanager/orders/"),
            ("POST", "/v1/keys/abc/encrypt", "update", "service/security/keymanager/keys/"),
            ("POST", "/v1/keys", "create", "service/security/keymanager/keys"),
            ("GET", "/v1/cas", "read/list", "service/security/keymanager/cas"),
            ("GET", "/v1", "read", "service/security/keymanager"),
            ("PATCH", "/v1/secrets/abc/acl", "update", "service/security/keymanager/secrets/"),
        ];
        for (m, p, a, t) in cases {
            assert_eq!(action(m, p), a, "{m} {p}");
            assert_eq!(target_type(p), t, "{m} {p}");
        }
    }

    #[test]
    fn target_is_the_named_resource() {
        let f = |path, status, location| Facts {
            request_id: "req-1", method: "GET", path, query: "", user_id: None, project_id: None,
            client_addr: None, agent: None, status, base_href: "https://kms", location,
        };
        assert_eq!(target_href(&f("/v1/secrets/s1/payload", 200, None)), "https://kms/v1/secrets/s1");
        assert_eq!(target_href(&f("/v1/containers/c1/consumers", 200, None)), "https://kms/v1/containers/c1");
        assert_eq!(target_href(&f("/v1/keys/k1/decrypt", 403, None)), "https://kms/v1/keys/k1");
        assert_eq!(target_href(&f("/v1/secrets", 201, Some("https://kms/v1/secrets/new"))), "https://kms/v1/secrets/new");
        assert_eq!(target_href(&f("/v1/secrets", 400, None)), "https://kms/v1/secrets");
    }
}
