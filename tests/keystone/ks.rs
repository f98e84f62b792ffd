//! The test Keystone's users file (scripts/keystone.sh writes it) and what both suites ask of it.

use std::collections::HashMap;

use portcullis::config::KeystoneSection;

pub struct Ks {
    pub env: HashMap<String, String>,
    pub http: reqwest::Client,
}

/// The Keystone named by PORTCULLIS_TEST_KEYSTONE_ENV; None (the test skips) without it, unless
/// PORTCULLIS_REQUIRE_KEYSTONE=1.
pub fn keystone() -> Option<Ks> {
    let path = match std::env::var("PORTCULLIS_TEST_KEYSTONE_ENV") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            if std::env::var("PORTCULLIS_REQUIRE_KEYSTONE").as_deref() == Ok("1") {
                panic!("PORTCULLIS_TEST_KEYSTONE_ENV is not set but PORTCULLIS_REQUIRE_KEYSTONE=1");
            }
            eprintln!("skipped: no Keystone (set PORTCULLIS_TEST_KEYSTONE_ENV)");
            return None;
        }
    };
    let text = std::fs::read_to_string(&path).expect("users.env");
    let env = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').trim_matches('\'').to_string()))
        .collect();
    Some(Ks { env, http: reqwest::Client::new() })
}

impl Ks {
    pub fn url(&self) -> &str {
        &self.env["KS_AUTH_URL"]
    }

    /// `[keystone_authtoken]` for the validating service user.
    pub fn section(&self) -> KeystoneSection {
        KeystoneSection {
            auth_url: self.url().to_string(),
            username: self.env["KS_SERVICE_USER"].clone(),
            password: self.env["KS_SERVICE_PASSWORD"].clone(),
            project_name: self.env["KS_SERVICE_PROJECT"].clone(),
            ..KeystoneSection::default()
        }
    }
}
