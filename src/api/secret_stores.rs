//! `/v1/secret-stores` (§5.10). Only functional with `[secretstore]
//! enable_multiple_secret_stores = true`; otherwise every route answers 404, after the policy
//! check on the collection routes and before anything on the `/{id}` routes.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::{respond, ApiError, Desc};
use super::http::{base_href, fmt_ts, json_accept, require_json_accept};
use super::AppState;
use crate::model::SecretStore;
use crate::service::access::Caller;
use crate::service::stores as svc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/secret-stores")
            .route(web::get().to(list))
            .default_service(web::to(|| super::not_allowed("GET"))),
    )
    .service(
        web::resource("/secret-stores/global-default")
            .route(web::get().to(global_default))
            .default_service(web::to(|| super::not_allowed("GET"))),
    )
    .service(
        web::resource("/secret-stores/preferred")
            .route(web::get().to(preferred))
            .default_service(web::to(|| super::not_allowed("GET"))),
    )
    .service(
        web::resource("/secret-stores/{id}")
            .route(web::get().to(get_one))
            .default_service(web::to(|req, st| not_allowed(req, st, Some("GET")))),
    )
    .service(
        web::resource("/secret-stores/{id}/preferred")
            .route(web::post().to(set_preferred))
            .route(web::delete().to(unset_preferred))
            .default_service(web::to(|req, st| not_allowed(req, st, Some("DELETE, POST")))),
    )
    .service(
        // Barbican's store controller answers 405 to any other sub-resource (after the look-up).
        web::resource("/secret-stores/{id}/{rest:.*}").default_service(web::to(|req, st| not_allowed(req, st, None))),
    );
}

#[derive(Serialize)]
struct StoreJson<'a> {
    created: String,
    updated: String,
    status: &'static str,
    name: &'a str,
    global_default: bool,
    secret_store_plugin: &'a str,
    crypto_plugin: Option<&'a str>,
    secret_store_ref: String,
}

fn store_json<'a>(s: &'a SecretStore, base: &str) -> StoreJson<'a> {
    StoreJson {
        created: fmt_ts(&s.created_at),
        updated: fmt_ts(&s.updated_at),
        status: "ACTIVE",
        name: &s.name,
        global_default: s.global_default,
        secret_store_plugin: &s.store_plugin,
        crypto_plugin: s.crypto_plugin.as_deref(),
        secret_store_ref: format!("{base}/v1/secret-stores/{}", s.id),
    }
}

fn store_id(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or("").to_string()
}

/// Routing 405 on a store resource: the store is looked up first. `allow` is None for the
/// 405 Barbican's controller raises itself (no `Allow` header then).
async fn not_allowed(req: HttpRequest, st: web::Data<AppState>, allow: Option<&'static str>) -> HttpResponse {
    let id = store_id(&req);
    match st.run(move |core| svc::find(core, &id)).await {
        Ok(_) => match allow {
            Some(a) => ApiError::method_not_allowed(a).render(""),
            None => ApiError::new(405, Desc::Empty).render(""),
        },
        Err(e) => e.render(""),
    }
}

// ---- collection routes: Accept, then (in the service) policy, then the switch ----------------

async fn list(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("List available secret stores", async {
        require_json_accept(&req)?;
        let stores = st.run(move |core| svc::list(core, &caller)).await?;
        let base = base_href(&req, &st);
        let items: Vec<StoreJson> = stores.iter().map(|s| store_json(s, &base)).collect();
        Ok(HttpResponse::Ok().json(serde_json::json!({ "secret_stores": items })))
    }
    .await)
}

async fn global_default(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Retrieve global default secret store", async {
        require_json_accept(&req)?;
        let s = st.run(move |core| svc::global_default(core, &caller)).await?;
        Ok(HttpResponse::Ok().json(store_json(&s, &base_href(&req, &st))))
    }
    .await)
}

async fn preferred(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Retrieve project preferred store", async {
        require_json_accept(&req)?;
        let s = st.run(move |core| svc::preferred(core, &caller)).await?;
        Ok(HttpResponse::Ok().json(store_json(&s, &base_href(&req, &st))))
    }
    .await)
}

// ---- `/{id}` routes: (in the service) the switch, the look-up, Accept, then policy -----------

async fn get_one(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Secret store retrieval", async {
        let (id, pre) = (store_id(&req), json_accept(&req));
        let s = st.call(move |core| svc::get(core, &caller, &id, pre)).await?;
        Ok(HttpResponse::Ok().json(store_json(&s, &base_href(&req, &st))))
    }
    .await)
}

async fn set_preferred(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Setting preferred secret store", async {
        // No body is read and its Content-Type is not checked.
        let (id, pre) = (store_id(&req), json_accept(&req));
        st.call(move |core| svc::set_preferred(core, &caller, &id, pre)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

async fn unset_preferred(req: HttpRequest, st: web::Data<AppState>, caller: Caller) -> HttpResponse {
    respond("Removing preferred secret store", async {
        let (id, pre) = (store_id(&req), json_accept(&req));
        st.call(move |core| svc::unset_preferred(core, &caller, &id, pre)).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}
