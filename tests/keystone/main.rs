//! The tests that need a real Keystone (scripts/keystone.sh; its users file is named by
//! PORTCULLIS_TEST_KEYSTONE_ENV). Without it they skip, unless PORTCULLIS_REQUIRE_KEYSTONE=1.
//! scripts/test.sh starts Keystone and runs `cargo test --test keystone`.

#[path = "../common/mod.rs"]
mod common;

mod ks;

mod keystone_auth;
mod keystone_metrics;
mod rbac_matrix;
