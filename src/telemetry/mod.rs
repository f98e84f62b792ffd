//! Observability: Prometheus metrics, log output formats and the CADF audit trail. A leaf
//! module: any layer may record into it; it calls none of them.

pub mod audit;
pub mod cadf;
pub mod logs;
pub mod metrics;
