//! HTTP (actix-web): routes, Barbican's JSON shapes, hrefs, paging and errors.

pub mod acls;
mod caller;
pub mod consumers;
pub mod containers;
pub mod error;
pub mod http;
pub mod keys;
pub mod metadata;
pub mod middleware;
pub mod observe;
pub mod orders;
pub mod quotas;
pub mod secret_stores;
pub mod secrets;
pub mod transport_keys;
pub mod validate;
pub mod version;
pub mod wipe;

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::policy::PolicyStore;
use crate::service::access::Decide;
use crate::service::{Core, ServiceError};
use error::ApiError;

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    pub cfg: Config,
    pub core: Arc<Core>,
    pub policy: Arc<PolicyStore>,
    /// `host_href` without its trailing slash; None = derive from the request.
    pub host_href: Option<String>,
    pub auth: Authenticator,
    /// `[oidc]` issuers configured: bearer JWTs of workloads, beside `auth`.
    pub oidc: Option<Arc<crate::auth::oidc::OidcAuth>>,
    /// The policy decision handed to the service with every [`Caller`].
    pub decide: Decide,
    /// `[metrics] enabled`: the process's metric handles.
    pub metrics: Option<&'static crate::telemetry::metrics::Handles>,
    /// `[audit] enabled`: the CADF audit sink.
    pub audit: Option<Arc<crate::telemetry::audit::AuditLog>>,
}

impl AppState {
    pub fn new(cfg: Config, core: Core, policy: Arc<PolicyStore>, auth: Authenticator) -> AppState {
        let h = cfg.default.host_href.trim().trim_end_matches('/').to_string();
        let p = policy.clone();
        let decide: Decide = Arc::new(move |rule, ctx, target| p.enforce(rule, ctx, target));
        let metrics = cfg.metrics.enabled.then(crate::telemetry::metrics::install);
        let audit = cfg
            .audit
            .enabled
            .then(|| crate::telemetry::audit::AuditLog::open(cfg.audit.file.clone(), cfg.audit.fail_closed));
        AppState {
            metrics,
            audit,
            decide,
            auth,
            oidc: None,
            host_href: if h.is_empty() { None } else { Some(h) },
            cfg,
            core: Arc::new(core),
            policy,
        }
    }

    /// Runs a service operation on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Core) -> crate::service::ServiceResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.call(f).await
    }

    /// [`AppState::run`] for operations whose hooks fail with the API's own errors.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Core) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let core = self.core.clone();
        match web::block(move || f(&core)).await {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(ApiError::from(ServiceError::Internal(format!("blocking task failed: {e}")))),
        }
    }
}

impl AppState {
    /// [`AppState::call`] for a read-only operation. On SQLite, with an idle pooled connection,
    /// it runs on the request's own worker thread: a WAL read never waits for a lock, so it
    /// costs less than the hop to the blocking pool and back (about a third of a payload GET's
    /// time went to that hop's scheduling). On PostgreSQL and MySQL, whose round trips may
    /// stall, and when the pool has no idle connection, it takes the hop. The operation must
    /// not write (no `ensure_project`, no `Store::write`).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Core) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        if !self.core.store.reads_inline() {
            return self.call(f).await;
        }
        let core = &*self.core;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(core))) {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err(ApiError::from(ServiceError::Internal("read operation panicked".into()))),
        }
    }
}

/// Routes and middleware of the whole service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::middleware::from_fn;
    cfg.service(web::resource("/metrics").route(web::get().to(observe::metrics_page)))
    .service(
        web::resource("/healthcheck")
            .route(web::get().to(version::healthcheck))
            .route(web::head().to(version::healthcheck)),
    )
    .service(
        web::scope("/v1")
            .wrap(from_fn(middleware::microversion))
            .wrap(from_fn(middleware::authenticate))
            .service(
                web::resource(["", "/"])
                    .route(web::get().to(version::v1))
                    .default_service(web::to(|| not_allowed("GET"))),
            )
            // The managed keys' scope first: a static prefix, one comparison for every other
            // route. Then the hot secret routes: actix tries each resource's pattern in order (a
            // regex per dynamic one); the secrets' catch-all for unknown sub-paths comes after
            // the consumers routes.
            .configure(keys::routes)
            .configure(secrets::routes)
            .configure(consumers::routes)
            .configure(secrets::unknown_routes)
            .configure(containers::routes)
            .configure(orders::routes)
            .configure(quotas::routes)
            .configure(secret_stores::routes)
            .configure(transport_keys::routes)
            .default_service(web::to(not_found)),
    )
    .service(
        web::resource("/")
            .wrap(from_fn(middleware::microversion))
            .route(web::get().to(version::root))
            .default_service(web::to(version::root_not_allowed)),
    )
    .default_service(web::to(version::outside_not_found));
}

pub async fn not_found() -> HttpResponse {
    ApiError::not_found_route().render("")
}

pub async fn not_allowed(allow: &'static str) -> HttpResponse {
    ApiError::method_not_allowed(allow).render("")
}
