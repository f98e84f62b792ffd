//! The TPM tests: each starts its own swtpm instances (scripts/swtpm.sh) and uses its own SQLite
//! databases, so scripts/test.sh runs them once: `cargo test --test tpm`.

#[path = "../tpm_common/mod.rs"]
mod tpm_common;

mod tpm_provider;
mod tpm_replica;
mod tpm_rotation;
mod tpm_enroll_attacks;
mod tpm_high_keys;
mod tpm_root_keys;
