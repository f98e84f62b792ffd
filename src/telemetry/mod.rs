//! Observability: Prometheus metrics, log output formats and the CADF audit trail. A leaf
//! module: any layer may record into it; it calls none of them.

pub mod audit;
pub mod cadf;
pub mod logs;
pub mod metrics;

/// A random (v4) UUID from the thread's RNG, without the system call `Uuid::new_v4` makes:
/// request ids and audit event ids (identifiers, not secrets).
pub fn uuid4() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}
