//! Readiness (`/healthcheck?deep`): the database answers, and the master-KEK provider still
//! unseals the version in use. Failures are logged in detail and reported in fixed words, so
//! the unauthenticated answer tells nothing about the deployment. The provider check (a TPM
//! unseal) is remembered for a few seconds, so frequent probes stay cheap.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Core;

/// How long a master-KEK check result is reused.
const KEK_CHECK_TTL: Duration = Duration::from_secs(5);

/// One check's result: Ok(a detail safe to show) or Err(a fixed description).
pub type Check = Result<String, &'static str>;

#[derive(Default)]
pub struct KekCheckCache(Mutex<Option<(Instant, Check)>>);

/// A round trip to the database on a pooled connection.
pub fn database(core: &Core) -> Check {
    let start = Instant::now();
    match core.store.ping() {
        Ok(()) => Ok(format!("{} ms", start.elapsed().as_millis())),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            Err(if e.is_unavailable() { "database unavailable" } else { "database error" })
        }
    }
}

/// The provider unseals the master KEK version in use (at most every few seconds).
pub fn master_kek(core: &Core) -> Check {
    let mut cached = core.kek_check.0.lock();
    if let Some((at, r)) = cached.as_ref() {
        if at.elapsed() < KEK_CHECK_TTL {
            return r.clone();
        }
    }
    let r = match core.keys.check_provider() {
        Ok(v) => Ok(format!("{} provider, version {v}", core.keys.provider_name())),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the master-KEK provider fails");
            Err("the master-KEK provider cannot unseal the master KEK in use")
        }
    };
    *cached = Some((Instant::now(), r.clone()));
    r
}
