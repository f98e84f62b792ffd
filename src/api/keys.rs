//! `/v1/keys`: managed keys, a Portcullis extension in Barbican's JSON style (hrefs, paging,
//! error bodies). Keys are used on the server; their material leaves only through `export`,
//! for keys of sensitivity low marked exportable. `/v1/random` gives random bytes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::error::{respond, ApiError};
use super::http::{base_href, fmt_ts, json_from_bytes, page, paged_body, query_get, query_pairs, read_body, valid_uuid4};
use super::validate::key as v;
use super::wipe::{self, Wiped};
use super::AppState;
use crate::crypto::managed::{public_pem, Op};
use crate::model::managed_key::{grants_to_json, Grant, ManagedKey};
use crate::service::access::Caller;
use crate::service::keys::ops::{self, Output};
use crate::service::keys::{self as svc, KeyView};
use crate::service::ServiceError;

/// Key operations take larger bodies than Barbican's routes: a batch of 10,000 items.
const OP_BODY_LIMIT: usize = 8 << 20;
const BODY_LIMIT: usize = 256 << 10;

/// The key routes in one scope: actix matches its static prefix before any pattern inside, so
/// other routes pay one prefix comparison for it and key routes skip the others' patterns.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let post = |name: &'static str, op: Op| {
        web::resource(format!("/{{id}}/{name}"))
            .route(web::post().to(move |req, st, caller, id, body| operate(req, st, caller, id, body, op)))
            .default_service(web::to(|| super::not_allowed("POST")))
    };
    cfg.service(
        web::scope("/keys")
            .service(
                web::resource(["", "/"])
                    .route(web::get().to(list))
                    .route(web::post().to(create))
                    .default_service(web::to(|| super::not_allowed("GET, POST"))),
            )
            .service(post("encrypt", Op::Encrypt))
            .service(post("decrypt", Op::Decrypt))
            .service(
                web::resource("/{id}")
                    .route(web::get().to(get))
                    .route(web::put().to(update))
                    .route(web::delete().to(delete))
                    .default_service(web::to(|| super::not_allowed("DELETE, GET, PUT"))),
            )
            .service(post("rewrap", Op::Rewrap))
            .service(post("sign", Op::Sign))
            .service(post("verify", Op::Verify))
            .service(post("hmac", Op::Hmac))
            .service(
                web::resource("/{id}/datakey/{form}")
                    .route(web::post().to(datakey))
                    .default_service(web::to(|| super::not_allowed("POST"))),
            )
            .service(
                web::resource("/{id}/rotate")
                    .route(web::post().to(rotate))
                    .default_service(web::to(|| super::not_allowed("POST"))),
            )
            .service(
                web::resource("/{id}/policy")
                    .route(web::get().to(get_policy))
                    .route(web::put().to(put_policy))
                    .default_service(web::to(|| super::not_allowed("GET, PUT"))),
            )
            .service(
                web::resource("/{id}/export")
                    .route(web::get().to(export))
                    .default_service(web::to(|| super::not_allowed("GET"))),
            )
            .default_service(web::to(super::not_found)),
    )
    .service(
        web::resource("/random")
            .route(web::post().to(random))
            .default_service(web::to(|| super::not_allowed("POST"))),
    );
}

fn key_id(id: &str) -> Result<String, ApiError> {
    if valid_uuid4(id) {
        Ok(id.to_string())
    } else {
        Err(ApiError::bare(404, "Not Found. Provided key id is invalid."))
    }
}

async fn body(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Wiped, ApiError> {
    super::http::require_json_content_type(req)?;
    let (bytes, overflow) = read_body(payload, limit).await?;
    if overflow {
        return Err(ApiError::issue(413, "Provided request body is too large"));
    }
    json_from_bytes(&bytes, false)
}

fn key_json(k: &ManagedKey, base: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("key_ref".into(), json!(format!("{base}/v1/keys/{}", k.id)));
    m.insert("name".into(), json!(k.name));
    m.insert("type".into(), json!(k.key_type.as_str()));
    m.insert("sensitivity".into(), json!(k.sensitivity.as_str()));
    m.insert("exportable".into(), json!(k.exportable));
    m.insert("deletion_allowed".into(), json!(k.deletion_allowed));
    m.insert("latest_version".into(), json!(k.current_version));
    m.insert("min_decryption_version".into(), json!(k.min_decryption_version));
    m.insert("min_encryption_version".into(), json!(k.min_encryption_version));
    m.insert("auto_rotate_period".into(), json!(k.auto_rotate_seconds));
    m.insert("rotated".into(), json!(fmt_ts(&k.rotated_at)));
    m.insert("creator_id".into(), json!(k.creator_id));
    m.insert("created".into(), json!(fmt_ts(&k.created_at)));
    m.insert("updated".into(), json!(fmt_ts(&k.updated_at)));
    m
}

/// A key with its versions; asymmetric versions carry their public key (PEM).
fn view_json(v: &KeyView, base: &str) -> Value {
    let mut m = key_json(&v.key, base);
    let versions: Vec<Value> = v
        .versions
        .iter()
        .map(|ver| {
            let mut o = json!({ "version": ver.version, "created": fmt_ts(&ver.created_at) });
            if let Some(pem) = ver.public_der.as_deref().and_then(|d| public_pem(v.key.key_type, d).ok()) {
                o["public_key"] = json!(pem);
            }
            o
        })
        .collect();
    m.insert("versions".into(), Value::Array(versions));
    Value::Object(m)
}

fn policy_json(grants: &[Grant]) -> Value {
    serde_json::from_str(&grants_to_json(grants)).unwrap_or(Value::Null)
}

// ---- collection ------------------------------------------------------------------------------

async fn create(req: HttpRequest, st: web::Data<AppState>, caller: Caller, payload: web::Payload) -> HttpResponse {
    respond("Key creation", async {
        let b = body(&req, payload, BODY_LIMIT).await;
        let view = st.call(move |core| svc::create(core, &caller, move || v::new_key(&*b?))).await?;
        let base = base_href(&req, &st);
        let href = format!("{base}/v1/keys/{}", view.key.id);
        Ok(HttpResponse::Created().insert_header((header::LOCATION, href)).json(view_json(&view, &base)))
    }
    .await)
}

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Key(s) retrieval", async {
        let q = query_pairs(&req);
        let pg = page(&q, &st);
        let name = query_get(&q, "name").filter(|n| !n.is_empty()).map(str::to_string);
        let extra: Vec<(String, String)> = name.iter().map(|n| ("name".to_string(), n.clone())).collect();
        let (keys, total) = st.read(move |core| svc::list(core, &caller, name.as_deref(), pg)).await?;
        let base = base_href(&req, &st);
        let items = keys.iter().map(|k| Value::Object(key_json(k, &base))).collect();
        Ok(HttpResponse::Ok().json(paged_body("keys", items, total, pg, &format!("{base}/v1/keys"), &extra)))
    }
    .await)
}

// ---- one key ---------------------------------------------------------------------------------

async fn get(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Key retrieval", async {
        let id = key_id(&id)?;
        let view = st.read(move |core| svc::describe(core, &caller, &id)).await?;
        Ok(HttpResponse::Ok().json(view_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn update(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, payload: web::Payload) -> HttpResponse {
    respond("Key update", async {
        let id = key_id(&id)?;
        let u = v::key_update(&*body(&req, payload, BODY_LIMIT).await?)?;
        let view = st.run(move |core| svc::update(core, &caller, &id, u)).await?;
        Ok(HttpResponse::Ok().json(view_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn delete(st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Key deletion", async {
        let id = key_id(&id)?;
        st.run(move |core| svc::delete(core, &caller, &id)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

async fn rotate(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Key rotation", async {
        let id = key_id(&id)?;
        let view = st.run(move |core| svc::rotate(core, &caller, &id)).await?;
        Ok(HttpResponse::Ok().json(view_json(&view, &base_href(&req, &st))))
    }
    .await)
}

async fn get_policy(st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Key policy retrieval", async {
        let id = key_id(&id)?;
        let grants = st.read(move |core| svc::policy(core, &caller, &id)).await?;
        Ok(HttpResponse::Ok().json(policy_json(&grants)))
    }
    .await)
}

async fn put_policy(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, payload: web::Payload) -> HttpResponse {
    respond("Key policy update", async {
        let id = key_id(&id)?;
        let grants = v::policy(&*body(&req, payload, BODY_LIMIT).await?)?;
        let grants = st.run(move |core| svc::set_policy(core, &caller, &id, grants)).await?;
        Ok(HttpResponse::Ok().json(policy_json(&grants)))
    }
    .await)
}

async fn export(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Key export", async {
        let id = key_id(&id)?;
        let q = query_pairs(&req);
        let version = match query_get(&q, "version") {
            None => None,
            Some(s) => Some(s.parse::<i32>().map_err(|_| ApiError::bare(400, "'version' must be an integer."))?),
        };
        let (key, versions) = st.run(move |core| ops::export(core, &caller, &id, version)).await?;
        let keys: serde_json::Map<String, Value> =
            versions.iter().map(|(v, m)| (v.to_string(), b64(m))).collect();
        Ok(wipe::json_response(wipe::object([("name", json!(key.name)), ("type", json!(key.key_type.as_str())), ("keys", Value::Object(keys))])))
    }
    .await)
}

// ---- operations ------------------------------------------------------------------------------

/// Key material as base64 text, moved into the JSON value (wiped with it).
fn b64(bytes: &[u8]) -> Value {
    Value::String(B64.encode(bytes))
}

fn output_json(o: Output) -> Value {
    match o {
        Output::Ciphertext { ciphertext, version } => json!({ "ciphertext": ciphertext, "key_version": version }),
        Output::Plaintext(p) => wipe::object([("plaintext", b64(&p))]),
        Output::Datakey { ciphertext, plaintext, version } => {
            let mut o = json!({ "ciphertext": ciphertext, "key_version": version });
            if let Some(p) = plaintext {
                o["plaintext"] = b64(&p);
            }
            o
        }
        Output::Signature { signature, version } => json!({ "signature": signature, "key_version": version }),
        Output::Hmac { hmac, version } => json!({ "hmac": hmac, "key_version": version }),
        Output::Valid(valid) => json!({ "valid": valid }),
    }
}

/// A batch item's failure, in the words the whole request would have got.
fn item_error(e: ServiceError) -> Value {
    let e = ApiError::from(e);
    let msg = match e.desc {
        super::error::Desc::Bare(m) | super::error::Desc::Issue(m) => m,
        _ => "The item could not be processed.".to_string(),
    };
    json!({ "error": msg })
}

async fn run_op(req: &HttpRequest, st: &web::Data<AppState>, caller: Caller, id: &str, payload: web::Payload, op: Op, with_plaintext: bool) -> Result<HttpResponse, ApiError> {
    let id = key_id(id)?;
    // Parsed now, reported inside the service call once policy allowed the caller.
    let parsed = body(req, payload, OP_BODY_LIMIT).await.and_then(|b| v::items(op, &b, with_plaintext));
    let batch = matches!(parsed, Ok((_, true)));
    let items = move || parsed.map(|(items, _)| items);
    let results = st.read(move |core| ops::run(core, &caller, &id, op, items)).await?;
    // Plaintexts and data keys: answered from wiped buffers, never cached (batches too).
    if batch {
        let out: Vec<Value> = results.into_iter().map(|r| r.map(output_json).unwrap_or_else(item_error)).collect();
        return Ok(wipe::json_response(wipe::object([("batch_results", Value::Array(out))])));
    }
    let one = results.into_iter().next().ok_or_else(|| ApiError::internal("an operation returned no result"))?;
    Ok(wipe::json_response(output_json(one?)))
}

async fn operate(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, payload: web::Payload, op: Op) -> HttpResponse {
    respond("Key operation", run_op(&req, &st, caller, &id, payload, op, false).await)
}

async fn datakey(req: HttpRequest, st: web::Data<AppState>, caller: Caller, path: web::Path<(String, String)>, payload: web::Payload) -> HttpResponse {
    let (id, form) = path.into_inner();
    let with_plaintext = match form.as_str() {
        "plaintext" => true,
        "wrapped" => false,
        _ => return ApiError::not_found_route().render(""),
    };
    respond("Key operation", run_op(&req, &st, caller, &id, payload, Op::Datakey, with_plaintext).await)
}

async fn random(req: HttpRequest, st: web::Data<AppState>, caller: Caller, payload: web::Payload) -> HttpResponse {
    respond("Random bytes", async {
        let b = body(&req, payload, BODY_LIMIT).await?;
        let m = b.as_object().ok_or_else(|| ApiError::bare(400, "The request body must be a JSON object."))?;
        if let Some(k) = m.keys().find(|k| k.as_str() != "bytes") {
            return Err(ApiError::bare(400, format!("Unknown property '{k}'; allowed: bytes.")));
        }
        let n = match m.get("bytes") {
            None => 32,
            Some(v) => v.as_u64().filter(|n| (1..=1024).contains(n)).ok_or_else(|| ApiError::bare(400, "'bytes' must be an integer from 1 to 1024."))? as usize,
        };
        let bytes = st.run(move |_| ops::random(&caller, n)).await?;
        Ok(wipe::json_response(wipe::object([("random_bytes", b64(&bytes))])))
    }
    .await)
}
