//! Prometheus metrics through the `metrics` facade and its render-only exporter.
//!
//! The recorder is installed once per process when `[metrics] enabled`; until then [`get`]
//! answers `None` and every recording site costs one atomic load. Hot paths use handles
//! resolved once (a counter increment is one atomic add); per-route handles are resolved on a
//! route's first request and kept in a map keyed by the route *template* (`/v1/secrets/{id}`),
//! the method and the status, so no label holds a secret, container or project id.
//! Gauges that describe state (pool, queue, master KEK) are sampled when `/metrics` is scraped.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parking_lot::RwLock;

/// Latency buckets, seconds (0.5 ms to 10 s).
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The methods the API knows; any other is counted as `OTHER` (a client picks the method).
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

struct RouteHandles {
    count: Counter,
    latency: Histogram,
}

/// The process's metric handles.
pub struct Handles {
    prom: PrometheusHandle,
    routes: RwLock<HashMap<(String, u8, u16), RouteHandles>>,
    pub token_cache_hit: Counter,
    pub token_cache_miss: Counter,
    pub kek_cache_hit: Counter,
    pub kek_cache_miss: Counter,
    pub pool_wait: Histogram,
    pub pool_timeout: Counter,
    pub keystone_validate: Histogram,
    pub keystone_service_token: Histogram,
    pub audit_written: Counter,
    pub audit_failed: Counter,
}

static HANDLES: OnceLock<Handles> = OnceLock::new();

/// The handles, once [`install`] ran (None: metrics are off, record nothing).
#[inline]
pub fn get() -> Option<&'static Handles> {
    HANDLES.get()
}

/// Installs the Prometheus recorder (once per process; later calls return the same handles).
pub fn install() -> &'static Handles {
    HANDLES.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        let prom = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only what it records");
        }
        describe();
        // Histogram samples are folded into buckets at render time or by this upkeep.
        let upkeep = prom.clone();
        let _ = std::thread::Builder::new().name("portcullis-metrics".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        });
        Handles {
            prom,
            routes: RwLock::new(HashMap::new()),
            token_cache_hit: metrics::counter!("portcullis_cache_requests_total", "cache" => "token", "result" => "hit"),
            token_cache_miss: metrics::counter!("portcullis_cache_requests_total", "cache" => "token", "result" => "miss"),
            kek_cache_hit: metrics::counter!("portcullis_cache_requests_total", "cache" => "project_kek", "result" => "hit"),
            kek_cache_miss: metrics::counter!("portcullis_cache_requests_total", "cache" => "project_kek", "result" => "miss"),
            pool_wait: metrics::histogram!("portcullis_db_pool_wait_seconds"),
            pool_timeout: metrics::counter!("portcullis_db_pool_timeouts_total"),
            keystone_validate: metrics::histogram!("portcullis_keystone_request_duration_seconds", "call" => "validate_token"),
            keystone_service_token: metrics::histogram!("portcullis_keystone_request_duration_seconds", "call" => "service_token"),
            audit_written: metrics::counter!("portcullis_audit_events_total", "result" => "written"),
            audit_failed: metrics::counter!("portcullis_audit_events_total", "result" => "failed"),
        }
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("portcullis_http_requests_total", "HTTP requests answered, by route template, method and status");
    describe_histogram!("portcullis_http_request_duration_seconds", Unit::Seconds, "Time to answer an HTTP request, by route template and method");
    describe_gauge!("portcullis_db_pool_connections", "Database pool connections, by state (in_use, idle)");
    describe_gauge!("portcullis_db_pool_max_connections", "Database pool size limit ([DEFAULT] sql_pool_size)");
    describe_histogram!("portcullis_db_pool_wait_seconds", Unit::Seconds, "Time a request waited for a database connection");
    describe_counter!("portcullis_db_pool_timeouts_total", "Requests that got no database connection in time (answered 503)");
    describe_counter!("portcullis_cache_requests_total", "Cache look-ups, by cache (token, project_kek) and result (hit, miss)");
    describe_histogram!("portcullis_keystone_request_duration_seconds", Unit::Seconds, "Keystone calls, by call (validate_token, service_token)");
    describe_counter!("portcullis_keystone_failures_total", "Keystone calls that failed, by call and reason (unreachable, status)");
    describe_gauge!("portcullis_order_queue_depth", "Asymmetric orders waiting or running in the key-generation queue");
    describe_gauge!("portcullis_master_kek_version", "Master KEK version wrapping new project KEKs");
    describe_counter!("portcullis_audit_events_total", "CADF audit events, by result (written, failed)");
}

impl Handles {
    /// Counts one answered request. `route` is the matched template (None: no route matched).
    pub fn request(&self, route: Option<String>, method: &str, status: u16, elapsed: Duration) {
        let m = METHODS.iter().position(|x| *x == method).unwrap_or(METHODS.len()) as u8;
        let route = route.unwrap_or_else(|| "unmatched".to_string());
        let key = (route, m, status);
        let secs = elapsed.as_secs_f64();
        if let Some(h) = self.routes.read().get(&key) {
            h.count.increment(1);
            h.latency.record(secs);
            return;
        }
        let method = METHODS.get(m as usize).copied().unwrap_or("OTHER");
        let h = RouteHandles {
            count: metrics::counter!("portcullis_http_requests_total",
                "route" => key.0.clone(), "method" => method, "status" => status.to_string()),
            latency: metrics::histogram!("portcullis_http_request_duration_seconds",
                "route" => key.0.clone(), "method" => method),
        };
        h.count.increment(1);
        h.latency.record(secs);
        self.routes.write().entry(key).or_insert(h);
    }

    /// A Keystone call that failed (rare: resolved on the spot).
    pub fn keystone_failure(&self, call: &'static str, reason: &'static str) {
        metrics::counter!("portcullis_keystone_failures_total", "call" => call, "reason" => reason).increment(1);
    }

    /// The exposition text, after setting the sampled gauges.
    pub fn render(&self, g: &Gauges) -> String {
        metrics::gauge!("portcullis_db_pool_connections", "state" => "in_use").set(g.pool_in_use as f64);
        metrics::gauge!("portcullis_db_pool_connections", "state" => "idle").set(g.pool_idle as f64);
        metrics::gauge!("portcullis_db_pool_max_connections").set(g.pool_max as f64);
        metrics::gauge!("portcullis_order_queue_depth").set(g.order_queue_depth as f64);
        metrics::gauge!("portcullis_master_kek_version").set(g.master_kek_version as f64);
        self.prom.render()
    }
}

/// State sampled at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub pool_in_use: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    pub order_queue_depth: usize,
    pub master_kek_version: i32,
}
