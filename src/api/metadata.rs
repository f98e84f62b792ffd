//! `/v1/secrets/{id}/metadata` (§5.3).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::{respond, ApiError};
use super::http::{base_href, json_body, require_json_accept, require_json_content_type};
use super::secrets::{ctx, enforce, load};
use super::validate;
use super::AppState;
use crate::model::Secret;
use crate::service::secrets as svc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/secrets/{id}/metadata", "/secrets/{id}/metadata/"])
            .route(web::get().to(get_all))
            .route(web::put().to(put_all))
            .route(web::post().to(post_one))
            .default_service(web::to(|req, st| super::secrets::not_allowed(req, st, "GET, POST, PUT"))),
    )
    .service(
        web::resource("/secrets/{id}/metadata/{key}")
            .route(web::get().to(get_one))
            .route(web::put().to(put_one))
            .route(web::delete().to(delete_one))
            .default_service(web::to(|req, st| super::secrets::not_allowed(req, st, "DELETE, GET, PUT"))),
    );
}

/// Look-up, optional Accept negotiation, then policy.
async fn authorize(req: &HttpRequest, st: &AppState, id: &str, rule: &str, json_only: bool) -> Result<Secret, ApiError> {
    let l = load(st, req, id, false).await?;
    if json_only {
        require_json_accept(req)?;
    }
    let ctx = ctx(req)?;
    enforce(st, rule, &ctx, &l.target())?;
    Ok(l.secret)
}

async fn get_all(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    respond("Secret metadata retrieval", async {
        let secret = authorize(&req, &st, &id, "secret_meta:get", false).await?;
        let items = st.run(move |core| svc::metadata(core, &secret)).await?;
        let map: serde_json::Map<String, serde_json::Value> =
            items.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        Ok(HttpResponse::Ok().json(json!({ "metadata": map })))
    }
    .await)
}

async fn put_all(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Secret metadata creation", async {
        let secret = authorize(&req, &st, &id, "secret_meta:put", true).await?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let items = validate::metadata_all(&v)?;
        let href = format!("{}/v1/secrets/{}/metadata", base_href(&req, &st), secret.id);
        st.run(move |core| svc::replace_metadata(core, &secret, &items)).await?;
        Ok(HttpResponse::Created().json(json!({ "metadata_ref": href })))
    }
    .await)
}

async fn post_one(req: HttpRequest, st: web::Data<AppState>, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Secret metadatum creation", async {
        let secret = authorize(&req, &st, &id, "secret_meta:post", true).await?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (key, value) = validate::metadatum(&v)?;
        let href = format!("{}/v1/secrets/{}/metadata/{key}", base_href(&req, &st), secret.id);
        let (k, val) = (key.clone(), value.clone());
        st.run(move |core| svc::add_metadatum(core, &secret, &k, &val)).await?;
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, href))
            .json(json!({ "key": key, "value": value })))
    }
    .await)
}

async fn get_one(req: HttpRequest, st: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, key) = path.into_inner();
    respond("Secret metadatum retrieval", async {
        let secret = authorize(&req, &st, &id, "secret_meta:get", true).await?;
        let k = key.clone();
        let value = st.run(move |core| svc::metadatum(core, &secret, &k)).await?;
        Ok(HttpResponse::Ok().json(json!({ "key": key, "value": value })))
    }
    .await)
}

async fn put_one(req: HttpRequest, st: web::Data<AppState>, path: web::Path<(String, String)>, body: web::Payload) -> HttpResponse {
    let (id, url_key) = path.into_inner();
    respond("Secret metadatum update", async {
        let secret = authorize(&req, &st, &id, "secret_meta:put", false).await?;
        require_json_content_type(&req)?;
        let v = json_body(body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (key, value) = validate::metadatum(&v)?;
        let (k, val) = (key.clone(), value.clone());
        st.run(move |core| svc::update_metadatum(core, &secret, &url_key, &k, &val)).await?;
        Ok(HttpResponse::Ok().json(json!({ "key": key, "value": value })))
    }
    .await)
}

async fn delete_one(req: HttpRequest, st: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, key) = path.into_inner();
    respond("Secret metadatum removal", async {
        let secret = authorize(&req, &st, &id, "secret_meta:delete", true).await?;
        st.run(move |core| svc::delete_metadatum(core, &secret, &key)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
