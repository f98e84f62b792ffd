//! `/v1/secrets/{id}/metadata` (§5.3).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::{respond, ApiError};
use super::http::{base_href, json_accept, LaterBody};
use super::secrets::secret_id;
use super::validate;
use super::AppState;
use crate::model::Secret;
use crate::service::access::{no_check, Caller};
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

async fn get_all(st: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> HttpResponse {
    respond("Secret metadata retrieval", async {
        let id = secret_id(&id)?;
        let items = st.read(move |core| svc::with_metadata(core, &caller, &id, no_check::<Secret, ApiError>, "secret_meta:get", |c, id| Ok::<_, ApiError>(svc::metadata(c, id)?))).await?;
        let map: serde_json::Map<String, serde_json::Value> =
            items.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        Ok(HttpResponse::Ok().json(json!({ "metadata": map })))
    }
    .await)
}

async fn put_all(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Secret metadata creation", async {
        let id = secret_id(&id)?;
        let pre = json_accept::<Secret>(&req);
        let raw = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let href = format!("{}/v1/secrets/{id}/metadata", base_href(&req, &st));
        st.call(move |core| {
            svc::with_metadata(core, &caller, &id, pre, "secret_meta:put", move |c, id| {
                let items = validate::metadata_all(&*raw.json()?)?;
                Ok::<_, ApiError>(svc::replace_metadata(c, id, &items)?)
            })
        })
        .await?;
        Ok(HttpResponse::Created().json(json!({ "metadata_ref": href })))
    }
    .await)
}

async fn post_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller, id: web::Path<String>, body: web::Payload) -> HttpResponse {
    respond("Secret metadatum creation", async {
        let id = secret_id(&id)?;
        let pre = json_accept::<Secret>(&req);
        let raw = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let base = base_href(&req, &st);
        let (key, value, href) = st
            .call(move |core| {
                svc::with_metadata(core, &caller, &id, pre, "secret_meta:post", move |c, id| {
                    let (key, value) = validate::metadatum(&*raw.json()?)?;
                    svc::add_metadatum(c, id, &key, &value)?;
                    let href = format!("{base}/v1/secrets/{id}/metadata/{key}");
                    Ok::<_, ApiError>((key, value, href))
                })
            })
            .await?;
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, href))
            .json(json!({ "key": key, "value": value })))
    }
    .await)
}

async fn get_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, key) = path.into_inner();
    respond("Secret metadatum retrieval", async {
        let id = secret_id(&id)?;
        let pre = json_accept::<Secret>(&req);
        let k = key.clone();
        let value = st.read(move |core| svc::with_metadata(core, &caller, &id, pre, "secret_meta:get", move |c, id| Ok::<_, ApiError>(svc::metadatum(c, id, &k)?))).await?;
        Ok(HttpResponse::Ok().json(json!({ "key": key, "value": value })))
    }
    .await)
}

async fn put_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller, path: web::Path<(String, String)>, body: web::Payload) -> HttpResponse {
    let (id, url_key) = path.into_inner();
    respond("Secret metadatum update", async {
        let id = secret_id(&id)?;
        let raw = LaterBody::read(&req, body, st.cfg.default.max_allowed_request_size_in_bytes).await?;
        let (key, value) = st
            .call(move |core| {
                svc::with_metadata(core, &caller, &id, no_check::<Secret, ApiError>, "secret_meta:put", move |c, id| {
                    let (key, value) = validate::metadatum(&*raw.json()?)?;
                    svc::update_metadatum(c, id, &url_key, &key, &value)?;
                    Ok::<_, ApiError>((key, value))
                })
            })
            .await?;
        Ok(HttpResponse::Ok().json(json!({ "key": key, "value": value })))
    }
    .await)
}

async fn delete_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, key) = path.into_inner();
    respond("Secret metadatum removal", async {
        let id = secret_id(&id)?;
        let pre = json_accept::<Secret>(&req);
        st.call(move |core| svc::with_metadata(core, &caller, &id, pre, "secret_meta:delete", move |c, id| Ok::<_, ApiError>(svc::delete_metadatum(c, id, &key)?))).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
