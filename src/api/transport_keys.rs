//! `/v1/transport_keys` (§5.11).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Timelike;
use serde_json::{json, Value};

use super::error::{respond, ApiError};
use super::http::{
    base_href, best_match, header_str, json_body, page, paged_body, query_get, query_pairs, require_json_accept,
    require_json_content_type, valid_uuid4,
};
use super::secrets::{ctx, enforce};
use super::validate::{check_object, Prop, Ty};
use super::AppState;
use crate::policy::PolicyTarget;
use crate::service::transport_keys as svc;
use crate::store::from_micros;
use crate::store::transport_keys::TransportKeyRow;

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

async fn list(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Transport Key(s) retrieval", async {
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "transport_keys:get", &ctx, &PolicyTarget::none())?;
        let q = query_pairs(&req);
        let pg = page(&q, &st);
        // Barbican unquotes the value once more (`unquote_plus`); empty means no filter.
        let plugin = query_get(&q, "plugin_name")
            .map(|n| percent_encoding::percent_decode_str(&n.replace('+', " ")).decode_utf8_lossy().into_owned())
            .filter(|n| !n.is_empty());
        let (ids, total) = st.run(move |core| svc::list(core, plugin.as_deref(), pg)).await?;
        let base = base_href(&req, &st);
        let items = ids.iter().map(|id| Value::String(href(&base, id))).collect();
        Ok(HttpResponse::Ok().json(paged_body("transport_keys", items, total, pg, &format!("{base}/v1/transport_keys"), &[])))
    }
    .await)
}

// ---- POST /v1/transport_keys -----------------------------------------------------------------

const SCHEMA: &str = "Transport Key";

static PROPS: [Prop; 2] = [Prop::new("plugin_name", Ty::Str), Prop::new("transport_key", Ty::Str)];

/// `NewTransportKeyValidator`: (plugin_name, transport_key), both non-empty once stripped.
pub fn transport_key_body(v: &Value) -> Result<(String, String), ApiError> {
    let obj = check_object(SCHEMA, v, &PROPS)?;
    let field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let plugin_name = field("plugin_name");
    if plugin_name.is_empty() {
        return Err(ApiError::schema(SCHEMA, "plugin_name must be provided", Some("plugin_name")));
    }
    let transport_key = field("transport_key");
    if transport_key.is_empty() {
        return Err(ApiError::schema(SCHEMA, "transport_key must be provided", Some("transport_key")));
    }
    Ok((plugin_name, transport_key))
}

async fn create(req: HttpRequest, st: web::Data<AppState>, body: web::Payload) -> HttpResponse {
    respond("Transport Key Creation", async {
        require_json_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "transport_keys:post", &ctx, &PolicyTarget::none())?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (plugin_name, transport_key) = transport_key_body(&v)?;
        let row = st.run(move |core| svc::create(core, &plugin_name, &transport_key)).await?;
        let url = href(&base_href(&req, &st), &row.id);
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, url.clone()))
            .json(json!({ "transport_key_ref": url })))
    }
    .await)
}

// ---- GET /v1/transport_keys/{id} -------------------------------------------------------------

/// Python's `str(datetime)`: space-separated, microseconds only when non-zero.
fn py_datetime(micros: i64) -> String {
    let t = from_micros(micros);
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// The raw row, as Barbican's JSON renderer prints the model object.
fn row_json(r: &TransportKeyRow) -> Value {
    json!({
        "id": r.id,
        "plugin_name": r.plugin_name,
        "transport_key": r.transport_key,
        "status": r.status,
        "created_at": py_datetime(r.created_at),
        "updated_at": py_datetime(r.updated_at),
        "deleted_at": r.deleted_at.map(py_datetime),
        "deleted": r.deleted_at.is_some(),
    })
}

async fn get_one(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Transport Key retrieval", async {
        let id = check_id(&req)?;
        untemplated_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "transport_key:get", &ctx, &PolicyTarget::none())?;
        // Barbican answers 500 for an unknown id; 404 is what §9 allows.
        let row = st.run(move |core| svc::get(core, &id)).await?;
        Ok(HttpResponse::Ok().json(row_json(&row)))
    }
    .await)
}

// ---- DELETE /v1/transport_keys/{id} ----------------------------------------------------------

async fn delete_one(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    respond("Transport Key deletion", async {
        let id = check_id(&req)?;
        untemplated_accept(&req)?;
        let ctx = ctx(&req)?;
        enforce(&st, "transport_key:delete", &ctx, &PolicyTarget::none())?;
        st.run(move |core| svc::delete(core, &id)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(v: Value) -> String {
        match transport_key_body(&v).unwrap_err().desc {
            super::super::error::Desc::Bare(m) => m,
            d => format!("{d:?}"),
        }
    }

    const P: &str = "Provided object does not match schema 'Transport Key': ";

    #[test]
    fn body_messages() {
        assert_eq!(msg(json!({})), format!("{P}plugin_name must be provided. Invalid property: 'plugin_name'"));
        assert_eq!(msg(json!({"plugin_name": "  "})), format!("{P}plugin_name must be provided. Invalid property: 'plugin_name'"));
        assert_eq!(msg(json!({"plugin_name": "p"})), format!("{P}transport_key must be provided. Invalid property: 'transport_key'"));
        assert_eq!(msg(json!({"plugin_name": 5})), format!("{P}5 is not of type 'string'. Invalid property: 'plugin_name'"));
        assert_eq!(
            msg(json!({"plugin_name": 5, "transport_key": []})),
            format!("{P}[] is not of type 'string'. Invalid property: 'transport_key'")
        );
        assert_eq!(msg(json!("x")), format!("{P}'x' is not of type 'object'. Invalid property: 'None'"));
        assert_eq!(transport_key_body(&json!({"plugin_name": " p ", "transport_key": "k", "x": 1})).unwrap(), ("p".into(), "k".into()));
    }

    #[test]
    fn python_datetimes() {
        assert_eq!(py_datetime(1_795_000_000_000_000), "2026-11-18 11:06:40");
        assert_eq!(py_datetime(1_795_000_000_000_123), "2026-11-18 11:06:40.000123");
    }
}
