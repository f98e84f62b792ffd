//! The HTTP suites, one integration binary (one link step): a real server in-process per test,
//! over the database `PORTCULLIS_TEST_DATABASE_URL` names (default: a fresh SQLite file).
//! scripts/test.sh runs it on SQLite, PostgreSQL and MariaDB: `cargo test --test it`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../rawhttp/mod.rs"]
mod rawhttp;

mod acls_api;
mod consumers_api;
mod containers_api;
mod db_errors;
mod db_pool;
mod first_writes;
mod keys;
mod group_commit;
mod hardening;
mod kms_v2;
mod list_total;
mod metadata_api;
mod observability;
mod orders_api;
mod quotas_api;
mod secret_stores_api;
mod secrets_api;
mod secrets_list;
mod smoke;
mod storage_security;
mod transport_keys_api;
mod versions_api;
mod wire_compat;
mod policy_cli;
mod tls;
mod mtls;
mod systemd_unit;
mod check_cli;
mod replicas;
