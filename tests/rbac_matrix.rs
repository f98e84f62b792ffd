//! RBAC matrix against a real Keystone: every secrets, secret-metadata and secret-ACL route ×
//! 11 principals × 3 policy modes (legacy defaults, secure RBAC with enforce_scope, the SCS
//! profile on legacy). The expected status of every cell is written out by hand below from the
//! contract's rules (barbican-api.md §4.2–§4.4, policy/scs-member-as-creator.yaml); nothing here
//! asks Portcullis's own policy engine. Every mismatch is collected and printed as
//! `route principal mode expected got` before the test fails. Besides the status, each answer
//! must be the right kind (a 403 is a policy denial, a 401 is Keystone's refusal, a payload read
//! returns the payload), and each write cell is checked for its effect: none when refused.
//!
//! Keystone is started by scripts/test.sh (scripts/keystone.sh); its users file is named by
//! PORTCULLIS_TEST_KEYSTONE_ENV. Without it the tests are skipped, unless
//! PORTCULLIS_REQUIRE_KEYSTONE=1.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use portcullis::config::{AuthStrategy, KeystoneSection};
use reqwest::Method;
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------
// The principals (columns). Users have password `pass`; project proj-a unless noted.
//   a-admin    admin on proj-a (Keystone implies member, reader, manager)
//   a-member   member on proj-a (implies reader)
//   a-reader   reader on proj-a
//   a-creator  creator on proj-a (legacy role, implies nothing)
//   a-observer observer on proj-a
//   a-audit    audit on proj-a
//   b-admin    admin on proj-b (implies member, reader, manager)
//   b-member   member on proj-b (implies reader)
//   a-norole   member on proj-b only, token scoped to proj-b; listed in the target secret's
//              `read` ACL (project-access true): the ACL-user column
//   none       no X-Auth-Token
//   revoked    an a-admin token revoked in Keystone (DELETE /v3/auth/tokens) after first use
// ------------------------------------------------------------------------------------------
const PRINCIPALS: [&str; 11] = [
    "a-admin", "a-member", "a-reader", "a-creator", "a-observer", "a-audit", "b-admin", "b-member",
    "a-norole", "none", "revoked",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// POST /v1/secrets (secrets:post)
    PostSecrets,
    /// GET /v1/secrets (secrets:get)
    ListSecrets,
    /// GET /v1/secrets/{id}, Accept: application/json (secret:get)
    GetSecret,
    /// GET /v1/secrets/{id}/payload, Accept: text/plain (secret:decrypt)
    GetPayload,
    /// GET /v1/secrets/{id}, Accept: text/plain: legacy download (secret:decrypt)
    GetLegacyText,
    /// PUT /v1/secrets/{id} on a fresh payload-less secret (secret:put)
    PutPayload,
    /// DELETE /v1/secrets/{id} on a fresh secret (secret:delete)
    DeleteSecret,
    /// GET /v1/secrets/{id}/metadata (secret_meta:get)
    MetaGetAll,
    /// PUT /v1/secrets/{id}/metadata, fresh secret (secret_meta:put)
    MetaPutAll,
    /// POST /v1/secrets/{id}/metadata, new key, fresh secret (secret_meta:post)
    MetaPostOne,
    /// GET /v1/secrets/{id}/metadata/k1 (secret_meta:get)
    MetaGetOne,
    /// PUT /v1/secrets/{id}/metadata/k1, fresh secret (secret_meta:put)
    MetaPutOne,
    /// DELETE /v1/secrets/{id}/metadata/k1, fresh secret (secret_meta:delete)
    MetaDeleteOne,
    /// GET /v1/secrets/{id}/acl (secret_acls:get)
    AclGet,
    /// PUT /v1/secrets/{id}/acl, fresh secret (secret_acls:put_patch)
    AclPut,
    /// PATCH /v1/secrets/{id}/acl, fresh secret (secret_acls:put_patch)
    AclPatch,
    /// DELETE /v1/secrets/{id}/acl, fresh secret (secret_acls:delete)
    AclDelete,
}
use Route::*;

type Table = [(Route, [u16; 11])];

// ------------------------------------------------------------------------------------------
// LEGACY defaults (enforce_new_defaults = false): only the LEGACY check strings can pass.
// Target secret: project proj-a, created by a-creator, read ACL = [a-norole], project-access true.
//   secrets:post        rule:admin_or_creator
//   secrets:get         rule:all_but_audit                       (admin|observer|creator)
//   secret:get,         secret_non_private_read (all_users & project & not private)
//   secret_meta:get       or secret_project_creator or secret_project_admin or secret_acl_read
//   secret:decrypt      secret_decrypt_non_private_read (all_but_audit: audit excluded) or …
//   secret:put          rule:admin_or_creator and rule:secret_project_match
//   secret:delete       secret_project_admin or secret_project_creator
//                         or (secret_project_creator_role and not secret_private_read)
//   secret_meta:post/put/delete, secret_acls:put_patch/delete
//                       secret_project_admin or secret_project_creator
//                         or (secret_project_creator_role and secret_non_private_read)
//   secret_acls:get     rule:all_but_audit and rule:secret_project_match
// Keystone `member`/`reader` are not legacy roles: a-member, a-reader, b-member get nothing;
// a-norole gets only the ACL-read routes.
// ------------------------------------------------------------------------------------------
#[rustfmt::skip]
const LEGACY: &Table = &[
    //                a-adm a-mem a-rdr a-cre a-obs a-aud b-adm b-mem norol  none  rvkd
    (PostSecrets,   [  201,  403,  403,  201,  403,  403,  201,  403,  403,  401,  401]),
    (ListSecrets,   [  200,  403,  403,  200,  200,  403,  200,  403,  403,  401,  401]),
    (GetSecret,     [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (GetPayload,    [  200,  403,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (GetLegacyText, [  200,  403,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (PutPayload,    [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (DeleteSecret,  [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetAll,    [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutAll,    [  201,  403,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaPostOne,   [  201,  403,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetOne,    [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutOne,    [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (MetaDeleteOne, [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (AclGet,        [  200,  403,  403,  200,  200,  403,  403,  403,  403,  401,  401]),
    (AclPut,        [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclPatch,      [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclDelete,     [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
];

// ------------------------------------------------------------------------------------------
// NEW (secure RBAC: enforce_new_defaults = true, enforce_scope = true): only the NEW strings.
// Target secret: project proj-a, created by a-member, read ACL = [a-norole], project-access true.
//   S_RW = secret_project_admin or (secret_project_member and secret_owner)
//          or (secret_project_member and secret_is_not_private);  S_R = S_RW or secret_acl_read
//   secrets:post, secrets:get     role:member          (any project's member, incl. admins)
//   secret:get                    role:admin or S_R    (b-admin may read metadata)
//   secret:decrypt, secret_meta:get   S_R              (b-admin may not)
//   secret:delete                 role:admin or S_RW   (b-admin may delete)
//   secret:put, secret_meta:post/put/delete, secret_acls:*   S_RW
//     (ACL routes: no read_project_access in the target, so only admin or owner pass)
// Legacy roles (creator, observer, audit) and a bare reader get nothing.
// ------------------------------------------------------------------------------------------
#[rustfmt::skip]
const NEW: &Table = &[
    //                a-adm a-mem a-rdr a-cre a-obs a-aud b-adm b-mem norol  none  rvkd
    (PostSecrets,   [  201,  201,  403,  403,  403,  403,  201,  201,  201,  401,  401]),
    (ListSecrets,   [  200,  200,  403,  403,  403,  403,  200,  200,  200,  401,  401]),
    (GetSecret,     [  200,  200,  403,  403,  403,  403,  200,  403,  200,  401,  401]),
    (GetPayload,    [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (GetLegacyText, [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (PutPayload,    [  204,  204,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (DeleteSecret,  [  204,  204,  403,  403,  403,  403,  204,  403,  403,  401,  401]),
    (MetaGetAll,    [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (MetaPutAll,    [  201,  201,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (MetaPostOne,   [  201,  201,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetOne,    [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (MetaPutOne,    [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (MetaDeleteOne, [  204,  204,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclGet,        [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclPut,        [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclPatch,      [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclDelete,     [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
];

// ------------------------------------------------------------------------------------------
// SCS profile on legacy (policy/scs-member-as-creator.yaml: "creator": "role:creator or
// role:member"). Same LEGACY strings, but every holder of `member` (a-admin, a-member, b-admin,
// b-member, a-norole) now passes rule:creator, hence admin_or_creator, all_but_audit, all_users
// and secret_project_creator_role (the latter only with the project match).
// Target secret: project proj-a, created by a-creator, read ACL = [a-norole], project-access true.
// a-reader holds neither role and gets nothing.
// ------------------------------------------------------------------------------------------
#[rustfmt::skip]
const SCS: &Table = &[
    //                a-adm a-mem a-rdr a-cre a-obs a-aud b-adm b-mem norol  none  rvkd
    (PostSecrets,   [  201,  201,  403,  201,  403,  403,  201,  201,  201,  401,  401]),
    (ListSecrets,   [  200,  200,  403,  200,  200,  403,  200,  200,  200,  401,  401]),
    (GetSecret,     [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (GetPayload,    [  200,  200,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (GetLegacyText, [  200,  200,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (PutPayload,    [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (DeleteSecret,  [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetAll,    [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutAll,    [  201,  201,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaPostOne,   [  201,  201,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetOne,    [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutOne,    [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (MetaDeleteOne, [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (AclGet,        [  200,  200,  403,  200,  200,  403,  403,  403,  403,  401,  401]),
    (AclPut,        [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclPatch,      [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclDelete,     [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
];

// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Legacy,
    New,
    Scs,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Legacy => "legacy",
            Mode::New => "new",
            Mode::Scs => "scs",
        }
    }

    /// The project's natural secret creator in this mode.
    fn creator(self) -> &'static str {
        match self {
            Mode::New => "a-member",
            Mode::Legacy | Mode::Scs => "a-creator",
        }
    }
}

/// What a route acts on.
#[derive(PartialEq)]
enum Fixture {
    /// Nothing (collection routes).
    None,
    /// The mode's shared target secret (read-only routes).
    Shared,
    /// A fresh secret like the target (payload, ACL, metadata k1) for this cell alone.
    Fresh,
    /// A fresh payload-less secret (ACL, metadata k1) for this cell alone.
    FreshNoPayload,
}

fn fixture(route: Route) -> Fixture {
    match route {
        PostSecrets | ListSecrets => Fixture::None,
        GetSecret | GetPayload | GetLegacyText | MetaGetAll | MetaGetOne | AclGet => Fixture::Shared,
        PutPayload => Fixture::FreshNoPayload,
        DeleteSecret | MetaPutAll | MetaPostOne | MetaPutOne | MetaDeleteOne | AclPut | AclPatch
        | AclDelete => Fixture::Fresh,
    }
}

struct Ks {
    env: HashMap<String, String>,
    http: reqwest::Client,
}

fn keystone() -> Option<Ks> {
    let path = match std::env::var("PORTCULLIS_TEST_KEYSTONE_ENV") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            if std::env::var("PORTCULLIS_REQUIRE_KEYSTONE").as_deref() == Ok("1") {
                panic!("PORTCULLIS_TEST_KEYSTONE_ENV is not set but PORTCULLIS_REQUIRE_KEYSTONE=1");
            }
            eprintln!("skipped: no Keystone (set PORTCULLIS_TEST_KEYSTONE_ENV)");
            return None;
        }
    };
    let text = std::fs::read_to_string(&path).expect("users.env");
    let env = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').trim_matches('\'').to_string()))
        .collect();
    Some(Ks { env, http: reqwest::Client::new() })
}

impl Ks {
    fn url(&self) -> &str {
        &self.env["KS_AUTH_URL"]
    }

    fn user_id(&self, user: &str) -> String {
        self.env[&format!("KS_USER_{}", user.to_uppercase().replace('-', "_"))].clone()
    }

    fn section(&self) -> KeystoneSection {
        KeystoneSection {
            auth_url: self.url().to_string(),
            username: self.env["KS_SERVICE_USER"].clone(),
            password: self.env["KS_SERVICE_PASSWORD"].clone(),
            project_name: self.env["KS_SERVICE_PROJECT"].clone(),
            // Every request is validated by Keystone, so the revoked token is seen as revoked.
            token_cache_time: 0,
            ..KeystoneSection::default()
        }
    }

    async fn token(&self, user: &str, password: &str, project: &str) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        let r = self.http.post(format!("{}/auth/tokens?nocatalog", self.url())).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "token for {user}: {:?}", r.text().await);
        r.headers()["x-subject-token"].to_str().unwrap().to_string()
    }

    async fn user_token(&self, user: &str) -> String {
        let project = if user.starts_with("b-") || user == "a-norole" { "proj-b" } else { "proj-a" };
        self.token(user, &self.env["KS_USER_PASSWORD"], project).await
    }

    async fn revoke(&self, token: &str) {
        let admin = self.token("admin", &self.env["KS_ADMIN_PASSWORD"], "admin").await;
        let r = self.http.delete(format!("{}/auth/tokens", self.url())).header("X-Auth-Token", &admin)
            .header("X-Subject-Token", token).send().await.unwrap();
        assert_eq!(r.status(), 204, "revoke: {:?}", r.text().await);
    }
}

struct Ctx {
    s: common::TestServer,
    /// principal → token (None for "none")
    tokens: HashMap<&'static str, Option<String>>,
    norole_id: String,
    mode: Mode,
}

impl Ctx {
    fn req(&self, method: Method, path: &str, principal: &str) -> reqwest::RequestBuilder {
        let mut b = self.s.http.request(method, self.s.url(path));
        if let Some(t) = &self.tokens[principal] {
            b = b.header("X-Auth-Token", t);
        }
        b
    }

    /// A secret as the mode's natural creator, with `read` ACL [a-norole] (project-access
    /// true) and user metadata {k1: v1}; with a text payload unless `payload` is false.
    async fn make_secret(&self, payload: bool) -> String {
        let who = self.mode.creator();
        let body = if payload {
            json!({"name": "rbac", "payload": "rbac-payload", "payload_content_type": "text/plain"})
        } else {
            json!({"name": "rbac-empty"})
        };
        let r = self.req(Method::POST, "/v1/secrets", who).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "fixture: create as {who}: {:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        let id = v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let r = self.req(Method::PUT, &format!("/v1/secrets/{id}/acl"), who)
            .json(&json!({"read": {"users": [self.norole_id], "project-access": true}})).send().await.unwrap();
        assert_eq!(r.status(), 200, "fixture: ACL as {who}: {:?}", r.text().await);
        let r = self.req(Method::PUT, &format!("/v1/secrets/{id}/metadata"), who)
            .json(&json!({"metadata": {"k1": "v1"}})).send().await.unwrap();
        assert_eq!(r.status(), 201, "fixture: metadata as {who}: {:?}", r.text().await);
        id
    }

    /// What a write could have changed on a fixture, read back as its creator.
    async fn snapshot(&self, id: &str) -> Value {
        let who = self.mode.creator();
        let r = self.req(Method::GET, &format!("/v1/secrets/{id}"), who).send().await.unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return json!({"status": status});
        }
        let secret: Value = r.json().await.unwrap();
        let meta: Value = self.req(Method::GET, &format!("/v1/secrets/{id}/metadata"), who).send().await.unwrap().json().await.unwrap();
        let acl: Value = self.req(Method::GET, &format!("/v1/secrets/{id}/acl"), who).send().await.unwrap().json().await.unwrap();
        json!({"status": status, "payload": secret.get("content_types").is_some(), "metadata": meta["metadata"],
               "acl": {"project-access": acl["read"]["project-access"], "users": acl["read"].get("users")}})
    }

    /// The fixture's state after a successful write of `route` (None: not a fixture write).
    fn after(&self, route: Route) -> Option<Value> {
        let users = json!([self.norole_id]);
        let state = |payload: bool, metadata: Value, acl: Value| {
            json!({"status": 200, "payload": payload, "metadata": metadata, "acl": acl})
        };
        let acl0 = json!({"project-access": true, "users": users});
        Some(match route {
            PutPayload => state(true, json!({"k1": "v1"}), acl0),
            DeleteSecret => json!({"status": 404}),
            MetaPutAll => state(true, json!({"k1": "v2", "k9": "v9"}), acl0),
            MetaPostOne => state(true, json!({"k1": "v1", "k2": "v2"}), acl0),
            MetaPutOne => state(true, json!({"k1": "v3"}), acl0),
            MetaDeleteOne => state(true, json!({}), acl0),
            AclPut => state(true, json!({"k1": "v1"}), json!({"project-access": false, "users": users})),
            AclPatch => state(true, json!({"k1": "v1"}), json!({"project-access": true, "users": []})),
            AclDelete => state(true, json!({"k1": "v1"}), json!({"project-access": true, "users": null})),
            _ => return None,
        })
    }

    /// The status, and what was wrong with the answer beyond its status, if anything.
    async fn call(&self, route: Route, principal: &str, id: &str) -> (u16, Option<String>) {
        let sec = format!("/v1/secrets/{id}");
        let b = match route {
            PostSecrets => self.req(Method::POST, "/v1/secrets", principal)
                .json(&json!({"payload": "made", "payload_content_type": "text/plain"})),
            ListSecrets => self.req(Method::GET, "/v1/secrets", principal).header("Accept", "application/json"),
            GetSecret => self.req(Method::GET, &sec, principal).header("Accept", "application/json"),
            GetPayload => self.req(Method::GET, &format!("{sec}/payload"), principal).header("Accept", "text/plain"),
            GetLegacyText => self.req(Method::GET, &sec, principal).header("Accept", "text/plain"),
            PutPayload => self.req(Method::PUT, &sec, principal).header("Content-Type", "text/plain").body("later"),
            DeleteSecret => self.req(Method::DELETE, &sec, principal),
            MetaGetAll => self.req(Method::GET, &format!("{sec}/metadata"), principal).header("Accept", "application/json"),
            MetaPutAll => self.req(Method::PUT, &format!("{sec}/metadata"), principal)
                .json(&json!({"metadata": {"k1": "v2", "k9": "v9"}})),
            MetaPostOne => self.req(Method::POST, &format!("{sec}/metadata"), principal)
                .json(&json!({"key": "k2", "value": "v2"})),
            MetaGetOne => self.req(Method::GET, &format!("{sec}/metadata/k1"), principal).header("Accept", "application/json"),
            MetaPutOne => self.req(Method::PUT, &format!("{sec}/metadata/k1"), principal)
                .json(&json!({"key": "k1", "value": "v3"})),
            MetaDeleteOne => self.req(Method::DELETE, &format!("{sec}/metadata/k1"), principal),
            AclGet => self.req(Method::GET, &format!("{sec}/acl"), principal).header("Accept", "application/json"),
            AclPut => self.req(Method::PUT, &format!("{sec}/acl"), principal)
                .json(&json!({"read": {"users": [self.norole_id], "project-access": false}})),
            AclPatch => self.req(Method::PATCH, &format!("{sec}/acl"), principal)
                .json(&json!({"read": {"users": []}})),
            AclDelete => self.req(Method::DELETE, &format!("{sec}/acl"), principal),
        };
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let www_auth = r.headers().contains_key("www-authenticate");
        let body = r.text().await.unwrap_or_default();
        let note = match status {
            401 if !www_auth => Some("401 without WWW-Authenticate (not Keystone's refusal)".to_string()),
            403 if !body.contains("attempt not allowed - please review your user/project privileges") => {
                Some(format!("403 that is not a policy denial: {body}"))
            }
            200 if matches!(route, GetPayload | GetLegacyText) && body != "rbac-payload" => {
                Some(format!("payload {body:?}"))
            }
            _ => None,
        };
        (status, note)
    }
}

async fn run(mode: Mode, table: &Table) {
    let Some(ks) = keystone() else { return };
    let started = std::time::Instant::now();
    let scs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy/scs-member-as-creator.yaml");
    let section = ks.section();
    let s = common::start_with(move |c| {
        c.auth.strategy = AuthStrategy::Keystone;
        c.keystone_authtoken = section;
        c.oslo_policy.enforce_new_defaults = mode == Mode::New;
        c.oslo_policy.enforce_scope = mode == Mode::New;
        if mode == Mode::Scs {
            c.oslo_policy.policy_file = Some(scs);
        }
    })
    .await;

    let mut tokens = HashMap::new();
    for p in PRINCIPALS {
        let t = match p {
            "none" => None,
            "revoked" => Some(ks.user_token("a-admin").await),
            user => Some(ks.user_token(user).await),
        };
        tokens.insert(p, t);
    }
    let ctx = Ctx { s, tokens, norole_id: ks.user_id("a-norole"), mode };

    // The revoked token works first (a-admin may list in every mode), then is revoked.
    assert_eq!(ctx.req(Method::GET, "/v1/secrets", "revoked").send().await.unwrap().status(), 200,
        "the token to revoke is valid before revocation");
    ks.revoke(ctx.tokens["revoked"].as_deref().unwrap()).await;

    let target = ctx.make_secret(true).await;
    // The target is what the table assumes: the creator, the ACL user, the payload.
    let r = ctx.req(Method::GET, &format!("/v1/secrets/{target}"), ctx.mode.creator()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["creator_id"], ks.user_id(ctx.mode.creator()));
    let r = ctx.req(Method::GET, &format!("/v1/secrets/{target}/acl"), ctx.mode.creator()).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["read"]["users"], json!([ctx.norole_id]), "{v}");
    assert_eq!(v["read"]["project-access"], true, "{v}");

    let mut cells = 0;
    let mut failures = Vec::new();
    for (route, expected) in table {
        for (i, principal) in PRINCIPALS.iter().enumerate() {
            let id = match fixture(*route) {
                Fixture::None => String::new(),
                Fixture::Shared => target.clone(),
                Fixture::Fresh => ctx.make_secret(true).await,
                Fixture::FreshNoPayload => ctx.make_secret(false).await,
            };
            let before = if ctx.after(*route).is_some() { ctx.snapshot(&id).await } else { Value::Null };
            let (got, note) = ctx.call(*route, principal, &id).await;
            cells += 1;
            let cell = format!("  {:<14} {:<10} {:<6}", format!("{route:?}"), principal, mode.name());
            if got != expected[i] {
                failures.push(format!("{cell} expected {} got {}", expected[i], got));
            } else if let Some(note) = note {
                failures.push(format!("{cell} status {got} as expected, but {note}"));
            } else if let Some(effect) = ctx.after(*route) {
                // A refused write changed nothing; an allowed one did what it says.
                let want = if got < 300 { effect } else { before };
                let now = ctx.snapshot(&id).await;
                if now != want {
                    failures.push(format!("{cell} status {got} as expected, but the secret is now {now}, expected {want}"));
                }
            }
        }
    }
    // The read-only cells left the shared target as it was.
    let r = ctx.req(Method::GET, &format!("/v1/secrets/{target}/payload"), ctx.mode.creator())
        .header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "rbac-payload");

    eprintln!(
        "rbac matrix {}: {} routes x {} principals = {} cells, {} mismatches, {:.1}s",
        mode.name(), table.len(), PRINCIPALS.len(), cells, failures.len(), started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} RBAC mismatches in mode {} (route, principal, mode, expected, got):\n{}",
        failures.len(), mode.name(), failures.join("\n")
    );
}

#[actix_web::test]
async fn rbac_matrix_legacy_defaults() {
    run(Mode::Legacy, LEGACY).await;
}

#[actix_web::test]
async fn rbac_matrix_secure_rbac() {
    run(Mode::New, NEW).await;
}

#[actix_web::test]
async fn rbac_matrix_scs_profile() {
    run(Mode::Scs, SCS).await;
}

/// Each table has every route exactly once, in the order of the `Route` enum.
#[test]
fn tables_cover_every_route_once() {
    let all = [
        PostSecrets, ListSecrets, GetSecret, GetPayload, GetLegacyText, PutPayload, DeleteSecret,
        MetaGetAll, MetaPutAll, MetaPostOne, MetaGetOne, MetaPutOne, MetaDeleteOne, AclGet, AclPut,
        AclPatch, AclDelete,
    ];
    for table in [LEGACY, NEW, SCS] {
        let routes: Vec<Route> = table.iter().map(|(r, _)| *r).collect();
        assert_eq!(routes, all);
        for (_, row) in table {
            assert_eq!(&row[9..], &[401, 401], "no token and the revoked token are 401 everywhere");
        }
    }
}
