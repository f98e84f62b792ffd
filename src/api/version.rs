//! Version discovery (§5.1) and the health check (§1.1).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::respond;
use super::http::{api_version, base_href, best_match, header_str, require_json_accept};
use super::middleware::webob_error;
use super::AppState;
use crate::auth::Authenticator;
use crate::service::health;

pub const BUILD: &str = env!("CARGO_PKG_VERSION");

/// The v1 version object, in the shape the microversion asks for.
fn version_object(base: &str, minor: u8) -> Value {
    let links = json!([
        {"rel": "self", "href": format!("{base}/v1/")},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}
    ]);
    if minor == 0 {
        json!({"id": "v1", "status": "stable", "links": links,
               "media-types": [{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}]})
    } else {
        json!({"id": "v1", "status": "CURRENT", "min_version": "1.0", "max_version": "1.2", "links": links})
    }
}

/// `GET /`: 300 with the version list, 302 to json-home, or `?build`.
pub async fn root(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let base = base_href(&req, &st);
    if url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| k == "build") {
        return HttpResponse::Ok().json(json!({"build": BUILD}));
    }
    let accept = header_str(&req, header::ACCEPT);
    match best_match(accept, &["application/json", "application/json-home"]) {
        Some("application/json-home") => HttpResponse::Found()
            .insert_header((header::LOCATION, format!("{base}/v1/")))
            .content_type("text/plain; charset=UTF-8")
            .body(format!("302 Found\n\nThe resource was found at {base}/v1/; you should be redirected automatically.  ")),
        Some(_) => {
            let minor = api_version(&req).0;
            let body = if minor == 0 {
                json!({"versions": {"values": [version_object(&base, 0)]}})
            } else {
                json!({"versions": [version_object(&base, minor)]})
            };
            HttpResponse::build(StatusCode::MULTIPLE_CHOICES).json(body)
        }
        None => webob_error(StatusCode::NOT_ACCEPTABLE, "", accept),
    }
}

pub async fn root_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut r = webob_error(StatusCode::METHOD_NOT_ALLOWED, "", header_str(&req, header::ACCEPT));
    r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    r
}

/// Paths outside `/`, `/v1` and `/healthcheck`: webob's 404.
pub async fn outside_not_found(req: HttpRequest) -> HttpResponse {
    webob_error(StatusCode::NOT_FOUND, "", header_str(&req, header::ACCEPT))
}

/// `GET /v1`: the version object, no policy.
pub async fn v1(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Version retrieval", (|| {
        let accept = header_str(&req, header::ACCEPT);
        if best_match(accept, &["application/json", "application/json-home"]).is_none() {
            require_json_accept(&req)?;
        }
        let base = base_href(&req, &st);
        Ok(HttpResponse::Ok().json(json!({"version": version_object(&base, api_version(&req).0)})))
    })())
}

/// `/healthcheck`: "OK" without touching anything (liveness, as Barbican's). With `?deep`
/// (readiness, for load balancers): the database, the master-KEK provider and Keystone, as
/// JSON, 503 when one fails. Failures are fixed words; the details go to the log.
pub async fn healthcheck(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let deep = url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| k == "deep");
    if !deep {
        return HttpResponse::Ok().content_type("text/plain").body("OK");
    }
    let (database, master_kek) = st
        .call(|core| Ok::<_, super::error::ApiError>((health::database(core), health::master_kek(core))))
        .await
        .unwrap_or((Err("check did not run"), Err("check did not run")));
    let keystone = match &st.auth {
        Authenticator::Keystone(ks) => ks.reachable().await.map(|()| "reachable".to_string()),
        Authenticator::Noauth { .. } => Ok("not used (noauth)".to_string()),
    };
    let checks = [("database", database), ("master_kek", master_kek), ("keystone", keystone)];
    let ok = checks.iter().all(|(_, c)| c.is_ok());
    let body: serde_json::Map<String, Value> = checks
        .into_iter()
        .map(|(name, c)| {
            let v = match c {
                Ok(detail) => json!({"ok": true, "detail": detail}),
                Err(why) => json!({"ok": false, "detail": why}),
            };
            (name.to_string(), v)
        })
        .collect();
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": if ok { "ok" } else { "failed" }, "checks": body}))
}
