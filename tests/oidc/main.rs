//! The tests that need a real OIDC provider (scripts/oidc.sh, the npm package oidc-provider;
//! its env file is named by PORTCULLIS_TEST_OIDC_ENV). Without it they skip, unless
//! PORTCULLIS_REQUIRE_OIDC=1. scripts/test.sh starts the provider and runs
//! `cargo test --test oidc`. Portcullis runs in-process with noauth as the base strategy and
//! `[oidc]` as the extra door.

#[path = "../common/mod.rs"]
mod common;

mod provider;

mod workload_auth;
mod workload_keys;
mod workload_attacks;
