//! Portcullis: a key manager wire-compatible with OpenStack Barbican.
//!
//! Layers (data flows down): `api` (HTTP) → `auth`, `policy` → `service` → `kek`, `crypto` →
//! `store`. `model` holds the domain types they share.

pub mod api;
pub mod auth;
pub mod cache;
pub mod check;
pub mod config;
pub mod crypto;
pub mod import;
pub mod kek;
pub mod kms;
pub mod model;
pub mod policy;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
pub mod telemetry;
