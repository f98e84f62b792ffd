//! Forged tokens: algorithm confusion (HS256 keyed with the issuer's RSA public key), `alg:
//! none`, algorithm/key-type mismatches, and a bad bearer token that must not fall back to the
//! noauth headers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common;
use crate::provider::{assert_401, assert_not_logged, bearer, payload, provider, server};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The issuer's RSA public key as the PEM texts an attacker would try as an HMAC secret.
fn rsa_pems(jwk: &Value) -> Vec<String> {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e)).unwrap();
    vec![
        key.to_public_key_pem(LineEnding::LF).unwrap(),
        key.to_pkcs1_pem(LineEnding::LF).unwrap(),
        jwk.to_string(),
    ]
}

#[tokio::test]
async fn algorithm_confusion_and_none_are_refused() {
    let Some(o) = provider() else { return };
    let s = server(vec![o.issuer_conf("a", Some(&common::project()))]).await;
    // A real token: accepted. Its claims are reused in every forgery, so only the
    // algorithm and signature differ.
    let real = o.token("a", "workload-rs").await;
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &real).send().await.unwrap().status(), 200);
    let claims = payload(&real);
    let kid = jsonwebtoken::decode_header(&real).unwrap().kid.unwrap();
    let jwks = o.jwks("a").await;
    let rsa_jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("the signing key").clone();
    assert_eq!(rsa_jwk["kty"], "RSA");

    let mut forged = Vec::new();
    // HS256 keyed with the public key, with the RSA kid and without one.
    for pem in rsa_pems(&rsa_jwk) {
        forged.push(hs256(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), &claims, pem.as_bytes()));
        forged.push(hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims, pem.as_bytes()));
    }
    for alg in ["HS384", "HS512"] {
        let t = hs256(&json!({"alg": alg, "kid": kid}), &claims, b"x");
        forged.push(t);
    }
    // alg none: no signature, or the real one left in place.
    let real_sig = real.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE"] {
        forged.push(format!("{}.{}.", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&claims)));
        forged.push(format!("{}.{}.{real_sig}", b64(&json!({"alg": alg, "kid": kid})), b64(&claims)));
    }
    // The real signature under another algorithm of the right family, or of another family
    // (ES256 with the RSA kid; EdDSA), and the real token with its claims changed.
    for alg in ["RS512", "PS256", "ES256", "EdDSA"] {
        forged.push(format!("{}.{}.{real_sig}", b64(&json!({"alg": alg, "kid": kid})), b64(&claims)));
    }
    let mut more = claims.clone();
    more["portcullis_project"] = json!("someone-else");
    more["exp"] = json!(claims["exp"].as_u64().unwrap() + 3600);
    let real_header = real.split('.').next().unwrap();
    forged.push(format!("{real_header}.{}.{real_sig}", b64(&more)));

    for t in &forged {
        let r = bearer(&s, Method::GET, "/v1/secrets", t).send().await.unwrap();
        assert_401(r, t).await;
    }
    let mut all: Vec<&str> = forged.iter().map(String::as_str).collect();
    all.push(&real);
    assert_not_logged(&all);
}

#[tokio::test]
async fn a_refused_bearer_token_does_not_fall_back_to_noauth_headers() {
    let Some(o) = provider() else { return };
    let project = common::project();
    let s = server(vec![o.issuer_conf("a", Some(&project))]).await;
    for t in ["garbage", "a.b.c", &o.token("untrusted", "workload-rs").await] {
        let r = s.req(Method::GET, "/v1/secrets", &project).bearer_auth(t).header("X-Roles", "admin").send().await.unwrap();
        assert_401(r, t).await;
    }
    // Without the bearer token the same headers are noauth's.
    assert_eq!(s.req(Method::GET, "/v1/secrets", &project).send().await.unwrap().status(), 200);
    // A workload token ignores the noauth headers: its project is the issuer's mapping.
    let token = o.token("a", "workload-rs").await;
    let r = s
        .req(Method::POST, "/v1/secrets", "someone-elses-project")
        .bearer_auth(&token)
        .header("X-Roles", "admin")
        .json(&json!({"name": "mapped", "payload": "p", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let id = v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), "someone-elses-project").send().await.unwrap();
    assert_eq!(r.status(), 403, "not in the header's project");
    let v: Value = s.req(Method::GET, "/v1/secrets", "someone-elses-project").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 0, "{v}");
    assert_eq!(s.req(Method::GET, &format!("/v1/secrets/{id}"), &project).send().await.unwrap().status(), 200);
    assert_not_logged(&[&token]);
}
