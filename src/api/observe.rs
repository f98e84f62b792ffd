//! The outermost layer: request id, access log line, request metrics and the CADF audit event
//! of every `/v1` request; and the `/metrics` page.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse};
use tracing::Instrument;

use super::error::ApiError;
use super::AppState;
use crate::auth::RequestContext;
use crate::telemetry::cadf;

/// The request id (`req-<uuid4>`), in the request's extensions for the layers below.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// `/v1`, `/v1/...` (and `//v1/...`, which NormalizePath serves as `/v1/...`).
fn is_api(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    p == "v1" || p.starts_with("v1/")
}

/// What the audit event needs from the request, taken before the request is handed on.
struct Pending {
    method: String,
    path: String,
    query: String,
    client: Option<String>,
    agent: Option<String>,
}

fn audit_refused() -> HttpResponse {
    ApiError { retry_after: Some(5), ..ApiError::bare(503, "The audit log cannot be written right now; retry later.") }
        .render("")
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let id = format!("req-{}", crate::telemetry::uuid4());
    let span = tracing::info_span!("request", id = %id);
    let start = Instant::now();
    let st = req.app_data::<web::Data<AppState>>().cloned();
    let audit = st.as_ref().and_then(|s| s.audit.clone()).filter(|_| is_api(req.path()));
    let pending = audit.as_ref().map(|_| Pending {
        method: req.method().as_str().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        client: req.peer_addr().map(|a| a.ip().to_string()),
        agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    });
    req.extensions_mut().insert(RequestId(id.clone()));
    let refuse = audit.as_ref().is_some_and(|a| a.fail_closed() && !a.ready());
    let mut res = if refuse {
        let _g = span.enter();
        tracing::error!("request refused: the audit log cannot be written ([audit] fail_closed)");
        req.into_response(audit_refused()).map_into_right_body()
    } else {
        next.call(req).instrument(span.clone()).await?.map_into_left_body()
    };
    if let (Some(log), Some(p), Some(st), false) = (&audit, &pending, &st, refuse) {
        let line = audit_line(&id, p, &res, st);
        if log.write(&line).is_err() && log.fail_closed() {
            // Not acknowledged without its audit record; later requests are refused before
            // they act, until the log can be written again.
            let _g = span.enter();
            tracing::error!(status = res.status().as_u16(), "response replaced by 503: its audit record could not be written");
            let (r, _) = res.into_parts();
            res = ServiceResponse::new(r, audit_refused()).map_into_right_body();
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(header::HeaderName::from_static("x-openstack-request-id"), v);
    }
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    let r = res.request();
    let metrics = crate::telemetry::metrics::get();
    // The route template costs a small allocation: only for the metrics or the access line.
    let route = if metrics.is_some() || tracing::enabled!(tracing::Level::INFO) { r.match_pattern() } else { None };
    let method = r.method().as_str();
    let _g = span.enter();
    {
        let ext = r.extensions();
        let ctx = ext.get::<RequestContext>();
        tracing::info!(
            request_id = %id,
            method,
            route = route.as_deref().unwrap_or(""),
            path = r.path(),
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            project = ctx.and_then(|c| c.project_id.as_deref()).unwrap_or(""),
            user = ctx.and_then(|c| c.user_id.as_deref()).unwrap_or(""),
            "served"
        );
    }
    if let Some(m) = metrics {
        m.request(route, method, status, elapsed);
    }
    Ok(res)
}

fn audit_line<B>(id: &str, p: &Pending, res: &ServiceResponse<B>, st: &AppState) -> Vec<u8> {
    let r = res.request();
    let ext = r.extensions();
    let ctx = ext.get::<RequestContext>();
    let base = super::http::base_href(r, st);
    let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
    cadf::event(&cadf::Facts {
        request_id: id,
        method: &p.method,
        path: &p.path,
        query: &p.query,
        user_id: ctx.and_then(|c| c.user_id.as_deref()),
        project_id: ctx.and_then(|c| c.project_id.as_deref()),
        client_addr: p.client.as_deref(),
        agent: p.agent.as_deref(),
        status: res.status().as_u16(),
        base_href: &base,
        location,
    })
}

/// `GET /metrics`: the Prometheus text exposition (404 when `[metrics]` is off, and to
/// non-loopback clients with `loopback_only`).
pub async fn metrics_page(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let allowed = st.cfg.metrics.loopback_only.then(|| req.peer_addr().is_some_and(|a| a.ip().is_loopback()));
    match (st.metrics, allowed) {
        (Some(m), None | Some(true)) => {
            let g = st.core.gauges();
            let text = web::block(move || m.render(&g)).await.unwrap_or_default();
            HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text)
        }
        _ => super::version::outside_not_found(req).await,
    }
}
