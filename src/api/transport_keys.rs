//! `/v1/transport_keys` (§5.11).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDateTime, Timelike};
use serde_json::{json, Value};

use super::error::{respond, ApiError};
use super::http::{
    base_href, best_match, header_str, page, paged_body, query_get, query_pairs, require_json_accept, valid_uuid4,
    LaterBody,
};
use super::validate::transport_key::transport_key_body;
use super::AppState;
use crate::model::TransportKey;
use crate::service::access::Caller;
use crate::service::transport_keys as svc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/transport_keys")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(|| super::not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/transport_keys/{id}")
            .route(web::get().to(get_one))
            .route(web::delete().to(delete_one))
            .default_service(web::to(|req| async move { routed(&req, ApiError::method_not_allowed("DELETE, GET")) })),
    )
    .service(
        web::resource("/transport_keys/{id}/{rest:.*}")
            .default_service(web::to(|req| async move { routed(&req, ApiError::not_found_route()) })),
    );
}

const INVALID_ID: &str = "Not Found. Provided transport key id is invalid.";

/// The id is checked before anything else on `/{id}…` (§2.6).
fn check_id(req: &HttpRequest) -> Result<String, ApiError> {
    let id = req.match_info().get("id").unwrap_or("");
    if valid_uuid4(id) {
        Ok(id.to_string())
    } else {
        Err(ApiError::bare(404, INVALID_ID))
    }
}

/// A routing error on `/{id}…`, after the id check.
fn routed(req: &HttpRequest, e: ApiError) -> HttpResponse {
    match check_id(req) {
        Ok(_) => e.render(""),
        Err(bad) => bad.render(""),
    }
}

/// `GET`/`DELETE /{id}` are untemplated in Barbican: they answer to no Accept, `*/*` and
/// `text/html`. JSON is accepted too (where the reference answers 406, §2.5).
fn untemplated_accept(req: &HttpRequest) -> Result<(), ApiError> {
    match best_match(header_str(req, header::ACCEPT), &["text/html", "application/json"]) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_acceptable()),
    }
}

fn href(base: &str, id: &str) -> String {
    format!("{base}/v1/transport_keys/{id}")
}

// ---- GET /v1/transport_keys ------------------------------------------------------------------

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Transport Key(s) retrieval", async {
        require_json_accept(&req)?;
        let q = query_pairs(&req);
        let pg = page(&q, &st);
        // Barbican unquotes the value once more (`unquote_plus`); empty means no filter.
        let plugin = query_get(&q, "plugin_name")
            .map(|n| percent_encoding::percent_decode_str(&n.replace('+', " ")).decode_utf8_lossy().into_owned())
            .filter(|n| !n.is_empty());
        let (ids, total) = st.run(move |core| svc::list(core, &caller, plugin.as_deref(), pg)).await?;
        let base = base_href(&req, &st);
        let items = ids.iter().map(|id| Value::String(href(&base, id))).collect();
        Ok(HttpResponse::Ok().json(paged_body("transport_keys", items, total, pg, &format!("{base}/v1/transport_keys"), &[])))
    }
    .await)
}

// ---- POST /v1/transport_keys -----------------------------------------------------------------

async fn create(req: HttpRequest, st: web::Data<AppState>, caller: Caller, body: web::Payload) -> HttpResponse {
    respond("Transport Key Creation", async {
        require_json_accept(&req)?;
        // Judged after the policy decision: Content-Type, then the body.
        let body = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let input = move || transport_key_body(&*body.json()?);
        let key = st.call(move |core| svc::create(core, &caller, input)).await?;
        let url = href(&base_href(&req, &st), &key.id);
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, url.clone()))
            .json(json!({ "transport_key_ref": url })))
    }
    .await)
}

// ---- GET /v1/transport_keys/{id} -------------------------------------------------------------

/// Python's `str(datetime)`: space-separated, microseconds only when non-zero.
fn py_datetime(t: &NaiveDateTime) -> String {
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// The raw model object, as Barbican's JSON renderer prints it.
fn key_json(k: &TransportKey) -> Value {
    json!({
        "id": k.id,
        "plugin_name": k.plugin_name,
        "transport_key": k.transport_key,
        "status": k.status,
        "created_at": py_datetime(&k.created_at),
        "updated_at": py_datetime(&k.updated_at),
        "deleted_at": k.deleted_at.as_ref().map(py_datetime),
        "deleted": k.deleted_at.is_some(),
    })
}

async fn get_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Transport Key retrieval", async {
        let id = check_id(&req)?;
        untemplated_accept(&req)?;
        let key = st.run(move |core| svc::get(core, &caller, &id)).await?;
        Ok(HttpResponse::Ok().json(key_json(&key)))
    }
    .await)
}

// ---- DELETE /v1/transport_keys/{id} ----------------------------------------------------------

async fn delete_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Transport Key deletion", async {
        let id = check_id(&req)?;
        untemplated_accept(&req)?;
        st.run(move |core| svc::delete(core, &caller, &id)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp_micros(micros).unwrap().naive_utc()
    }

    #[test]
    fn python_datetimes() {
        assert_eq!(py_datetime(&at(1_795_000_000_000_000)), "2026-11-18 11:06:40");
        assert_eq!(py_datetime(&at(1_795_000_000_000_123)), "2026-11-18 11:06:40.000123");
    }
}
