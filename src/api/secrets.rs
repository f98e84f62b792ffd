//! `/v1/secrets` (§5.2).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use zeroize::Zeroizing;

use super::error::{respond, ApiError};
use super::http::{
    api_version, base_href, content_media_type, fmt_ts, header_str, page, paged_body, LaterBody,
    parse_isotime, query_get, query_pairs, read_body, require_json_accept,
    valid_uuid4, ApiVersion,
};
use super::validate::{lenient_b64decode, normalize_content_type, secret_create};
use super::AppState;
use crate::model::{
    DateCond, Secret, SecretConsumer, SecretFilter, SecretSortKey, OCTET_STREAM, PKCS8, TEXT_PLAIN,
};
use crate::model::NewSecret;
use crate::service::access::{no_check, Caller};
use crate::service::secrets as svc;
use crate::model::now;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/secrets", "/secrets/"])
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(|| super::not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/secrets/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put_payload))
            .route(web::delete().to(delete))
            .default_service(web::to(|req, st| not_allowed(req, st, "DELETE, GET, PUT"))),
    )
    .service(
        web::resource("/secrets/{id}/payload")
            .route(web::get().to(get_payload))
            .default_service(web::to(|req, st| not_allowed(req, st, "GET"))),
    )
    .configure(super::metadata::routes)
    .configure(super::acls::secret_routes);
}

/// Unknown sub-resources of a secret: the id is checked and looked up first (§2.3.4), then
/// 404. Configured after every other `/secrets/{id}/…` route (consumers' too).
pub fn unknown_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/secrets/{id}/{rest:.*}").default_service(web::to(unknown_subpath)));
}

async fn unknown_subpath(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    match secret_exists(&req, &st).await {
        Ok(()) => ApiError::not_found_route().render(""),
        Err(e) => e.render(""),
    }
}

/// The id check and look-up Barbican runs before answering a routing error on a secret.
async fn secret_exists(req: &HttpRequest, st: &AppState) -> Result<(), ApiError> {
    let id = secret_id(req.match_info().get("id").unwrap_or(""))?;
    st.run(move |core| svc::exists(core, &id)).await
}

/// Routing 405 on a secret resource: the id is checked and looked up first, as Barbican does.
pub async fn not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: &'static str) -> HttpResponse {
    match secret_exists(&req, &st).await {
        Ok(()) => ApiError::method_not_allowed(allow).render(""),
        Err(e) => e.render(""),
    }
}

#[derive(Serialize)]
struct ContentTypes<'a> {
    default: &'a str,
}

#[derive(Serialize)]
pub struct SecretJson<'a> {
    created: String,
    updated: String,
    status: &'a str,
    name: Option<&'a str>,
    secret_type: &'a str,
    expiration: Option<String>,
    algorithm: Option<&'a str>,
    bit_length: Option<i32>,
    mode: Option<&'a str>,
    creator_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumers: Option<&'a [SecretConsumer]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_types: Option<ContentTypes<'a>>,
    secret_ref: String,
}

impl Serialize for SecretConsumer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("service", &self.service)?;
        m.serialize_entry("resource_type", &self.resource_type)?;
        m.serialize_entry("resource_id", &self.resource_id)?;
        m.end()
    }
}

/// The secret representation (§5.2.1); `consumers` only from microversion 1.1.
pub fn secret_json<'a>(s: &'a Secret, base: &str, consumers: Option<&'a [SecretConsumer]>) -> SecretJson<'a> {
    SecretJson {
        created: fmt_ts(&s.created_at),
        updated: fmt_ts(&s.updated_at),
        status: &s.status,
        name: s.name.as_deref(),
        secret_type: &s.secret_type,
        expiration: s.expiration.as_ref().map(fmt_ts),
        algorithm: s.algorithm.as_deref(),
        bit_length: s.bit_length,
        mode: s.mode.as_deref(),
        creator_id: s.creator_id.as_deref(),
        consumers,
        content_types: s.content_type.as_deref().map(|d| ContentTypes { default: d }),
        secret_ref: format!("{base}/v1/secrets/{}", s.id),
    }
}

// ---- POST /v1/secrets ------------------------------------------------------------------------

async fn create(req: HttpRequest, st: web::Data<AppState>, caller: Caller, body: web::Payload) -> HttpResponse {
    respond("Secret creation", async {
        require_json_accept(&req)?;
        // The body is read and judged now; the verdict is reported inside the service call once
        // policy has allowed the request (Barbican's order: policy, Content-Type, body).
        let body = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let max = st.cfg.default.max_allowed_secret_in_bytes;
        let input = move || -> Result<NewSecret, ApiError> {
            // Barbican strips every string before validating, so the size limit applies to the
            // stripped payload (checked against the reference server).
            let n = secret_create(&*body.json()?, max, now())?;
            if n.transport_key_id.is_some() {
                return Err(ApiError::issue(400, "Provided transport key was not found."));
            }
            if n.transport_key_needed {
                return Err(ApiError::issue(400, "Transport keys are not supported by this secret store."));
            }
            Ok(n.secret)
        };
        let id = st.call(move |core| svc::create_for(core, &caller, input)).await?;
        let href = format!("{}/v1/secrets/{id}", base_href(&req, &st));
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, href.clone()))
            .json(serde_json::json!({ "secret_ref": href })))
    }
    .await)
}

// ---- GET /v1/secrets -------------------------------------------------------------------------

fn bad_query() -> ApiError {
    ApiError::bare(400, "URI provided invalid query string parameters.")
}

/// Barbican's `_is_valid_date_filter`.
fn date_filter(v: &str) -> Result<Vec<DateCond>, ApiError> {
    let (mut gt, mut gte, mut lt, mut lte, mut eq) = (false, false, false, false, false);
    let mut out = Vec::new();
    for f in v.split(',') {
        let ts = |s: &str| parse_isotime(s).ok_or_else(bad_query);
        if let Some(r) = f.strip_prefix("gt:") {
            if gt || gte {
                return Err(bad_query());
            }
            gt = true;
            out.push(DateCond::Gt(ts(r)?));
        } else if let Some(r) = f.strip_prefix("gte:") {
            if gt || gte || eq {
                return Err(bad_query());
            }
            gte = true;
            out.push(DateCond::Gte(ts(r)?));
        } else if let Some(r) = f.strip_prefix("lt:") {
            if lt || lte {
                return Err(bad_query());
            }
            lt = true;
            out.push(DateCond::Lt(ts(r)?));
        } else if let Some(r) = f.strip_prefix("lte:") {
            if lt || lte || eq {
                return Err(bad_query());
            }
            lte = true;
            out.push(DateCond::Lte(ts(r)?));
        } else if eq || gte || lte {
            return Err(bad_query());
        } else {
            eq = true;
            out.push(DateCond::Eq(ts(f)?));
        }
    }
    Ok(out)
}

/// Barbican's `_is_valid_sorting`.
fn sort_keys(v: &str) -> Result<Vec<(SecretSortKey, bool)>, ApiError> {
    let mut out: Vec<(SecretSortKey, bool)> = Vec::new();
    for item in v.split(',') {
        let (key, dir) = match item.split(':').collect::<Vec<_>>().as_slice() {
            [k] => (*k, "asc"),
            [k, d] => (*k, *d),
            _ => return Err(bad_query()),
        };
        let key = SecretSortKey::parse(key).ok_or_else(bad_query)?;
        let desc = match dir {
            "asc" => false,
            "desc" => true,
            _ => return Err(bad_query()),
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad_query());
        }
        out.push((key, desc));
    }
    Ok(out)
}

/// The list's query as Barbican reads it: filters, sort and `acl_only` (or a 400).
fn list_query(q: &[(String, String)], caller: &Caller) -> Result<(SecretFilter, Option<String>), ApiError> {
    let non_empty = |k: &str| query_get(q, k).filter(|v| !v.is_empty()).map(str::to_string);
    let mut f = SecretFilter {
        // Barbican unquotes the name once more (`unquote_plus`).
        name: non_empty("name")
            .map(|n| percent_encoding::percent_decode_str(&n.replace('+', " ")).decode_utf8_lossy().into_owned()),
        alg: non_empty("alg"),
        mode: non_empty("mode"),
        bits: query_get(q, "bits").and_then(|b| b.trim().parse::<i32>().ok()).filter(|b| *b > 0),
        secret_type: non_empty("secret_type"),
        ..SecretFilter::default()
    };
    if let Some(v) = non_empty("created") {
        f.created = date_filter(&v)?;
    }
    if let Some(v) = non_empty("updated") {
        f.updated = date_filter(&v)?;
    }
    if let Some(v) = non_empty("expiration") {
        f.expiration = date_filter(&v)?;
    }
    if let Some(v) = non_empty("sort") {
        f.sort = sort_keys(&v)?;
    }
    let acl_only = query_get(q, "acl_only").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok((f, caller.user().filter(|_| acl_only).map(str::to_string)))
}

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Secret(s) retrieval", list_inner(req, st, caller).await)
}

async fn list_inner(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_json_accept(&req)?;
    let q = query_pairs(&req);
    let pg = page(&q, &st);
    let query = list_query(&q, &caller);
    let with_consumers = api_version(&req) >= ApiVersion(1);
    let (rows, total) = st.read(move |core| svc::list_for(core, &caller, query, pg, with_consumers)).await?;
    let base = base_href(&req, &st);
    let items: Vec<SecretJson> =
        rows.iter().map(|(s, c)| secret_json(s, &base, with_consumers.then_some(c.as_slice()))).collect();
    let extra: Vec<(String, String)> =
        q.into_iter().filter(|(k, _)| k != "limit" && k != "offset").collect();
    Ok(HttpResponse::Ok().json(paged_body("secrets", items, total, pg, &format!("{base}/v1/secrets"), &extra)))
}

// ---- GET /v1/secrets/{id} --------------------------------------------------------------------

/// A secret id from the path: 404 before any look-up when it is not a UUID4 (§2.6).
pub fn secret_id(id: &str) -> Result<String, ApiError> {
    if valid_uuid4(id) {
        Ok(id.to_string())
    } else {
        Err(ApiError::bare(404, "Not Found. Provided secret id is invalid."))
    }
}

async fn get(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Secret retrieval", async {
        let id = secret_id(&id)?;
        let accept = header_str(&req, header::ACCEPT).map(str::to_string);
        let metadata_request = matches!(accept.as_deref(), None | Some("application/json") | Some("*/*"));
        if !metadata_request {
            // Legacy payload download through the secret's URI.
            let accept = accept.unwrap_or_default();
            let a = accept.clone();
            let (secret, plain) = st.read(move |core| svc::decrypt(core, &caller, &id, |s| payload_accept(s, &a).map(drop))).await?;
            return payload_response(&secret, plain, &accept);
        }
        let with_consumers = api_version(&req) >= ApiVersion(1);
        let found = st.read(move |core| svc::get(core, &caller, &id, with_consumers, no_check::<Secret, ApiError>, "secret:get")).await?;
        if query_get(&query_pairs(&req), "transport_key_needed").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(ApiError::issue(400, "Transport keys are not supported by this secret store."));
        }
        let base = base_href(&req, &st);
        let consumers = with_consumers.then_some(found.consumers.as_slice());
        Ok(HttpResponse::Ok().json(secret_json(&found.secret, &base, consumers)))
    }
    .await)
}

// ---- GET /v1/secrets/{id}/payload ------------------------------------------------------------

async fn get_payload(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Secret payload retrieval", async {
        let id = secret_id(&id)?;
        let q = query_pairs(&req);
        let accept = header_str(&req, header::ACCEPT).unwrap_or("").to_string();
        let a = accept.clone();
        let check = move |s: &Secret| -> Result<(), ApiError> {
            if query_get(&q, "trans_wrapped_session_key").is_some() {
                if query_get(&q, "transport_key_id").is_none() {
                    return Err(ApiError::bare(400, "Transport key wrapped session key has been provided to wrap secrets for retrieval, but the transport key id has not been provided."));
                }
                return Err(ApiError::issue(400, "Provided transport key was not found."));
            }
            payload_accept(s, &a).map(drop)
        };
        let (secret, plain) = st.read(move |core| svc::decrypt(core, &caller, &id, check)).await?;
        payload_response(&secret, plain, &accept)
    }
    .await)
}

/// §5.2.5: which representation the Accept value asks for (the raw media range), or 406.
fn payload_accept<'a>(secret: &'a Secret, accept: &'a str) -> Result<&'a str, ApiError> {
    let requested = if accept.trim().is_empty() { OCTET_STREAM } else { accept };
    let stored = secret.content_type.as_deref().ok_or_else(|| ApiError::from(crate::service::ServiceError::NotFound(crate::service::Missing::Payload)))?;
    let raw = if requested == "*/*" { stored } else { requested };
    if !matches!(normalize_content_type(raw).as_str(), TEXT_PLAIN | OCTET_STREAM | PKCS8) {
        return Err(ApiError::issue(406, "Wrong payload content-type"));
    }
    Ok(raw)
}

/// §5.2.5: the payload in the representation the Accept value asks for.
fn payload_response(secret: &Secret, plain: Zeroizing<Vec<u8>>, accept: &str) -> Result<HttpResponse, ApiError> {
    let raw = payload_accept(secret, accept)?;
    let wrong = || ApiError::issue(406, "Wrong payload content-type");
    let content_type = match raw {
        "text/plain" | "text/plain;charset=utf-8" | "text/plain; charset=utf-8" => {
            if std::str::from_utf8(&plain).is_err() {
                return Err(wrong());
            }
            if raw == "text/plain" { "text/plain; charset=UTF-8" } else { raw }
        }
        OCTET_STREAM | PKCS8 => raw,
        other => return Err(ApiError::issue(400, format!("content-type of '{other}' not supported"))),
    };
    let wildcard = accept.trim() == "*/*";
    let content_type = if wildcard { "*/*" } else { content_type };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type.to_string()))
        // Key material must not rest in a proxy's or client's HTTP cache.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(super::wipe::body(plain)))
}

// ---- PUT /v1/secrets/{id} --------------------------------------------------------------------

async fn put_payload(
    req: HttpRequest,
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    respond("Secret update", async {
        let id = secret_id(&id)?;
        let max = st.cfg.default.max_allowed_secret_in_bytes;
        // The body is read first (bounded), then judged in Barbican's order once the secret
        // is found and policy has allowed the update: content type, emptiness, size, state,
        // encoding.
        let media = content_media_type(&req);
        let encoding = header_str(&req, header::CONTENT_ENCODING).map(|e| e.trim().to_string());
        let (bytes, overflow) = read_body(body, max).await?;
        let input = move |secret: &Secret| upload_input(secret, media.as_deref(), encoding.as_deref(), bytes, overflow);
        st.call(move |core| svc::upload(core, &caller, &id, input)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

fn upload_input(
    secret: &Secret,
    media: Option<&str>,
    encoding: Option<&str>,
    bytes: Zeroizing<Vec<u8>>,
    overflow: bool,
) -> Result<(&'static str, Zeroizing<Vec<u8>>), ApiError> {
    let content_type = match media {
        Some(TEXT_PLAIN) => TEXT_PLAIN,
        Some(OCTET_STREAM) => OCTET_STREAM,
        _ => {
            return Err(ApiError::bare(
                415,
                "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']",
            ))
        }
    };
    if bytes.is_empty() {
        return Err(ApiError::issue(400, "No data supplied to process."));
    }
    if overflow {
        return Err(ApiError::issue(413, "Provided information too large to process"));
    }
    if secret.content_type.is_some() {
        return Err(ApiError::from(crate::service::ServiceError::PayloadAlreadySet));
    }
    if content_type == TEXT_PLAIN {
        return Ok((content_type, bytes));
    }
    let bad = || ApiError::issue(400, "Invalid payload for payload_content_encoding");
    match encoding {
        None | Some("") => Ok((content_type, bytes)),
        Some(enc) if enc.eq_ignore_ascii_case("base64") => {
            let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
            Ok((content_type, lenient_b64decode(text).ok_or_else(bad)?))
        }
        Some(_) => Err(ApiError::issue(
            400,
            "Text-based binary secret payloads must specify a content-encoding of 'base64'",
        )),
    }
}

// ---- DELETE /v1/secrets/{id} -----------------------------------------------------------------

/// oslo's strict boolean parsing.
pub fn parse_bool_strict(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

async fn delete(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Secret deletion", async {
        let id = secret_id(&id)?;
        let v12 = api_version(&req) >= ApiVersion(2);
        let force = query_get(&query_pairs(&req), "force").map(str::to_string);
        let refuse_if_consumers = move || -> Result<bool, ApiError> {
            match (v12, force) {
                (false, _) => Ok(false),
                (true, None) => Ok(true),
                (true, Some(v)) => Ok(!parse_bool_strict(&v).ok_or_else(bad_query)?),
            }
        };
        st.call(move |core| svc::remove(core, &caller, &id, refuse_if_consumers)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_filter_rules() {
        assert!(date_filter("gt:2020-01-01T00:00:00,lt:2030-01-01T00:00:00").is_ok());
        assert!(date_filter("gt:2020-01-01,gte:2020-01-01").is_err());
        assert!(date_filter("gte:2020-01-01,2020-01-02").is_err());
        assert!(date_filter("2020-01-02,lte:2020-01-01").is_err());
        assert!(date_filter("2020-01-02,2020-01-03").is_err());
        assert!(date_filter("gt:bogus").is_err());
        assert!(date_filter("gt:2020-01-01T00:00:00Z").is_ok(), "gophercloud sends a Z");
    }

    #[test]
    fn sort_rules() {
        assert_eq!(sort_keys("name:desc,created").unwrap(), vec![(SecretSortKey::Name, true), (SecretSortKey::Created, false)]);
        assert!(sort_keys("name,name:desc").is_err());
        assert!(sort_keys("bogus").is_err());
        assert!(sort_keys("name:up").is_err());
        assert!(sort_keys("name:asc:x").is_err());
    }
}
