//! Request id, authentication and microversion layers, in Barbican's order (§1.1).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};

use super::http::{best_match, ApiVersion};
use super::AppState;
use crate::auth::keystone::KsFailure;
use crate::auth::{noauth, AuthFailure};
use crate::auth::oidc::OidcFailure;
use crate::auth::Authenticator;

/// Outermost: a fresh `req-<uuid4>` on every response, a span for the logs, an access log line,
/// request metrics and the audit event ([`super::observe`]).
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    super::observe::observe(req, next).await
}

/// webob's rendering of an error raised outside the API app (not Barbican's JSON format).
pub fn webob_error(status: StatusCode, detail: &str, accept: Option<&str>) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    let code = format!("{} {}", status.as_u16(), title);
    let explanation = match status.as_u16() {
        400 => "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        401 => "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.",
        404 => "The resource could not be found.",
        405 => "The method is not allowed for this resource.",
        406 => "The resource could not be generated that was acceptable to your browser (content of type) .",
        _ => "",
    };
    // webob offers HTML and JSON; no Accept, or no match, gets plain text.
    let offer = match accept.filter(|a| !a.trim().is_empty()) {
        None => "text/plain",
        Some(_) => best_match(accept, &["text/html", "application/json"]).unwrap_or("text/plain"),
    };
    let mut b = HttpResponse::build(status);
    match offer {
        "application/json" => b.json(serde_json::json!({
            "message": format!("{explanation}<br /><br />\n{detail}\n\n"),
            "code": code,
            "title": title,
        })),
        "text/plain" => b
            .content_type("text/plain; charset=UTF-8")
            .body(format!("{code}\n\n{explanation}\n\n{detail}\n\n")),
        _ => b.content_type("text/html; charset=UTF-8").body(format!(
            "<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n  <h1>{code}</h1>\n  {explanation}<br /><br />\n{}\n\n\n </body>\n</html>",
            html_escape(detail)
        )),
    }
}

/// webob escapes the detail of its HTML pages (it may echo a request header): `&`, `<`, `>`
/// (quotes stay, as in the reference's pages).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the request context (noauth now; Keystone in its own module) or answers first.
pub async fn authenticate(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // A NUL anywhere in the path or query (percent-encoded) would reach a database column;
    // PostgreSQL refuses it with an error, so it is refused here, for every backend alike.
    let raw = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    if raw.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0') {
        let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(String::from);
        let resp = webob_error(StatusCode::BAD_REQUEST, super::http::NUL_REFUSED, accept.as_deref());
        return Ok(req.into_response(resp));
    }
    let st = req.app_data::<web::Data<AppState>>().cloned();
    let Some(st) = st else {
        return Ok(req.into_response(HttpResponse::InternalServerError().finish()));
    };
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        let within = std::time::Duration::from_secs(st.cfg.default.request_body_timeout.max(1));
        let payload = super::http::deadline_payload(req.take_payload(), within);
        req.set_payload(payload);
    }
    let bearer = st.oidc.as_ref().and_then(|_| bearer_token(req.headers()));
    let ctx = match (&st.oidc, bearer, &st.auth) {
        // A workload's JWT: the [oidc] door, beside Keystone or noauth.
        (Some(oidc), Some(token), _) => match oidc.context(&token).await {
            Ok(ctx) => Ok(ctx),
            Err(f) => return Ok(req.into_response(oidc_refusal(&f))),
        },
        (_, _, Authenticator::Keystone(ks)) => {
            let h = req.headers();
            let user = h.get("x-auth-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty());
            let service = h.get("x-service-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty());
            match ks.context(user, service).await {
                Ok(Ok(ctx)) => Ok(ctx),
                Ok(Err(())) => {
                    // A token without a project (system- or domain-scoped): Barbican's context
                    // middleware answers webob's 401.
                    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(String::from);
                    let resp = webob_error(StatusCode::UNAUTHORIZED, "", accept.as_deref());
                    return Ok(req.into_response(resp));
                }
                Err(KsFailure::Invalid) => {
                    let resp = HttpResponse::Unauthorized()
                        .insert_header((header::WWW_AUTHENTICATE, ks.www_authenticate()))
                        .content_type("application/json; charset=UTF-8")
                        .body(r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#);
                    return Ok(req.into_response(resp));
                }
                Err(KsFailure::Unavailable(why)) => {
                    tracing::error!("token validation impossible: {why}");
                    let resp = HttpResponse::ServiceUnavailable()
                        .content_type("application/json; charset=UTF-8")
                        .json(serde_json::json!({"error": {"code": 503, "title": "Service Unavailable",
                            "message": "The identity service (Keystone) cannot validate tokens right now; try again later."}}));
                    return Ok(req.into_response(resp));
                }
            }
        }
        (_, _, Authenticator::Noauth { admin_role }) => noauth::context(req.headers(), admin_role),
    };
    match ctx {
        Ok(mut ctx) => {
            // Set per connection by crate::tls::on_connect when the client presented a verified
            // certificate.
            ctx.client_cert = req.conn_data::<std::sync::Arc<crate::auth::ClientIdentity>>().cloned();
            req.extensions_mut().insert(ctx);
            next.call(req).await
        }
        Err(AuthFailure::MissingProjectId) => {
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(String::from);
            let resp = webob_error(StatusCode::BAD_REQUEST, "Missing X-Project-Id", accept.as_deref());
            Ok(req.into_response(resp))
        }
        Err(AuthFailure::BadHeader(name, max)) => {
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(String::from);
            let detail = format!("Invalid {name} header: at most {max} characters, without NUL");
            let resp = webob_error(StatusCode::BAD_REQUEST, &detail, accept.as_deref());
            Ok(req.into_response(resp))
        }
    }
}

/// `Authorization: Bearer <token>` on a request without `X-Auth-Token` (a Keystone token wins).
fn bearer_token(h: &header::HeaderMap) -> Option<String> {
    if h.get("x-auth-token").is_some_and(|v| !v.as_bytes().trim_ascii().is_empty()) {
        return None;
    }
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// 401 (RFC 6750's `invalid_token`) or 503 for a bearer token; the reason goes to the log
/// only, and neither holds the token.
fn oidc_refusal(f: &OidcFailure) -> HttpResponse {
    match f {
        OidcFailure::Invalid(why) => {
            tracing::info!(reason = why, "bearer token refused");
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
                .content_type("application/json; charset=UTF-8")
                .body(r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#)
        }
        OidcFailure::Unavailable(why) => {
            tracing::error!(error = %why, "bearer token: the issuer's keys cannot be fetched");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .json(serde_json::json!({"error": {"code": 503, "title": "Service Unavailable",
                    "message": "The token's issuer cannot be reached to verify it; try again later."}}))
        }
    }
}

pub enum MicroversionError {
    Invalid(String),
    Unacceptable(String),
}

/// Parses `OpenStack-API-Version` for `key-manager` (§2.2): the last entry wins; `latest` = 1.2.
pub fn parse_microversion<'a>(values: impl Iterator<Item = &'a str>) -> Result<ApiVersion, MicroversionError> {
    let mut found: Option<String> = None;
    for v in values {
        for entry in v.split(',') {
            let entry = entry.trim();
            let mut it = entry.splitn(2, char::is_whitespace);
            let service = it.next().unwrap_or("");
            if service.eq_ignore_ascii_case("key-manager") {
                found = Some(it.next().unwrap_or("").trim().to_string());
            }
        }
    }
    let Some(v) = found.filter(|v| !v.is_empty()) else { return Ok(ApiVersion(0)) };
    if v.eq_ignore_ascii_case("latest") {
        return Ok(ApiVersion(2));
    }
    let parse = |s: &str| -> Result<i64, String> {
        s.trim().parse::<i64>().map_err(|_| format!("invalid literal for int() with base 10: '{}'", s.trim()))
    };
    // microversion-parse: `Version(*(int(p) for p in v.split('.', 1)))`, so the int() error of
    // the first bad part wins over a missing minor.
    let invalid = |e: String| MicroversionError::Invalid(format!("invalid version string: {v}; {e}"));
    let (maj, min) = match v.split_once('.') {
        Some((a, b)) => (parse(a).map_err(invalid)?, parse(b).map_err(invalid)?),
        None => {
            parse(&v).map_err(invalid)?;
            return Err(invalid("Version.__new__() missing 1 required positional argument: 'minor'".into()));
        }
    };
    if maj == 1 && (0..=2).contains(&min) {
        Ok(ApiVersion(min as u8))
    } else {
        Err(MicroversionError::Unacceptable(format!("Unacceptable version header: {v}")))
    }
}

/// Microversion negotiation; every response that passes this layer carries the version headers.
pub async fn microversion(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let parsed = parse_microversion(
        req.headers().get_all("openstack-api-version").filter_map(|v| v.to_str().ok()),
    );
    let accept = || req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(String::from);
    let ver = match parsed {
        Ok(v) => v,
        Err(MicroversionError::Invalid(m)) => {
            let resp = webob_error(StatusCode::BAD_REQUEST, &format!("Invalid microversion: {m}"), accept().as_deref());
            return Ok(req.into_response(resp));
        }
        Err(MicroversionError::Unacceptable(m)) => {
            let resp = webob_error(StatusCode::NOT_ACCEPTABLE, &format!("Invalid microversion: {m}"), accept().as_deref());
            return Ok(req.into_response(resp));
        }
    };
    req.extensions_mut().insert(ver);
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(
        header::HeaderName::from_static("openstack-api-version"),
        HeaderValue::from_static(match ver.0 {
            0 => "key-manager 1.0",
            1 => "key-manager 1.1",
            _ => "key-manager 1.2",
        }),
    );
    h.append(header::VARY, HeaderValue::from_static("openstack-api-version"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(v: &str) -> Result<u8, String> {
        match parse_microversion(std::iter::once(v)) {
            Ok(v) => Ok(v.0),
            Err(MicroversionError::Invalid(m)) => Err(format!("400 {m}")),
            Err(MicroversionError::Unacceptable(m)) => Err(format!("406 {m}")),
        }
    }

    #[test]
    fn microversions() {
        assert_eq!(pv("key-manager 1.1"), Ok(1));
        assert_eq!(pv("KEY-MANAGER latest"), Ok(2));
        assert_eq!(pv("compute 2.1"), Ok(0));
        assert_eq!(pv("key-manager 1.0, compute 2.1, key-manager 1.2"), Ok(2));
        assert_eq!(pv("key-manager 1.01"), Ok(1));
        assert_eq!(pv("key-manager 1.3"), Err("406 Unacceptable version header: 1.3".into()));
        assert_eq!(pv("key-manager abc").unwrap_err(), "400 invalid version string: abc; invalid literal for int() with base 10: 'abc'");
        assert_eq!(pv("key-manager 1").unwrap_err()[..3].to_string(), "400");
    }
}
