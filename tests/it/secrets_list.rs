//! `GET /v1/secrets`: paging, navigation links, filters and sorting (contract §2.9, §5.2.3).

use crate::common;
use reqwest::Method;
use serde_json::{json, Value};

const BAD_QUERY: &str = "URI provided invalid query string parameters.";

async fn list(s: &common::TestServer, p: &str, query: &str) -> Value {
    let path = if query.is_empty() { "/v1/secrets".to_string() } else { format!("/v1/secrets?{query}") };
    let r = s.req(Method::GET, &path, p).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    r.json().await.unwrap()
}

/// The names of the listed secrets, in order.
fn names(v: &Value) -> Vec<String> {
    v["secrets"].as_array().expect("secrets array").iter().map(|s| s["name"].as_str().unwrap_or("<null>").to_string()).collect()
}

fn sorted_names(v: &Value) -> Vec<String> {
    let mut n = names(v);
    n.sort();
    n
}

async fn create_named(s: &common::TestServer, p: &str, name: &str, extra: Value) -> String {
    let mut body = json!({"name": name});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    s.create_secret(p, body).await
}

async fn created_of(s: &common::TestServer, p: &str, id: &str) -> String {
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), p).send().await.unwrap();
    r.json::<Value>().await.unwrap()["created"].as_str().unwrap().to_string()
}

/// Ensures strictly increasing timestamps between creations on every backend.
async fn tick() {
    actix_web::rt::time::sleep(std::time::Duration::from_millis(15)).await;
}

// ---- paging ----------------------------------------------------------------------------------

#[actix_web::test]
async fn empty_project() {
    let s = common::start().await;
    let p = common::project();
    for q in ["", "offset=5", "limit=1&offset=1", "name=x"] {
        assert_eq!(list(&s, &p, q).await, json!({"secrets": [], "total": 0}), "{q}");
    }
}

#[actix_web::test]
async fn paging_rules() {
    let s = common::start().await;
    let p = common::project();
    let all: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    for n in &all {
        create_named(&s, &p, n, json!({})).await;
        tick().await;
    }
    let link = |limit: i64, offset: i64| json!(format!("{}/v1/secrets?limit={limit}&offset={offset}", s.base));
    let page = |from: usize, to: usize| all[from..to].to_vec();

    // Default limit 10, oldest first.
    let v = list(&s, &p, "").await;
    assert_eq!(names(&v), page(0, 10));
    assert_eq!(v["total"], 12);
    assert_eq!(v["next"], link(10, 10));
    assert!(v.get("previous").is_none());

    // limit < 1 → 1.
    for q in ["limit=0", "limit=-3"] {
        let v = list(&s, &p, q).await;
        assert_eq!(names(&v), page(0, 1), "{q}");
        assert_eq!(v["next"], link(1, 1), "{q}");
    }
    // Non-integer or empty → the default 10.
    for q in ["limit=abc", "limit=", "limit=2.5"] {
        let v = list(&s, &p, q).await;
        assert_eq!(names(&v), page(0, 10), "{q}");
        assert_eq!(v["next"], link(10, 10), "{q}");
    }
    // > 100 → 100 (seen in the previous link).
    let v = list(&s, &p, "limit=1000&offset=1").await;
    assert_eq!(names(&v), page(1, 12));
    assert_eq!(v["previous"], link(100, 0));
    assert!(v.get("next").is_none());

    // Negative or non-integer offsets → 0.
    for q in ["offset=-5&limit=5", "offset=abc&limit=5"] {
        let v = list(&s, &p, q).await;
        assert_eq!(names(&v), page(0, 5), "{q}");
        assert!(v.get("previous").is_none(), "{q}");
        assert_eq!(v["next"], link(5, 5), "{q}");
    }
    // Middle page: both links.
    let v = list(&s, &p, "offset=5&limit=5").await;
    assert_eq!(names(&v), page(5, 10));
    assert_eq!(v["previous"], link(5, 0));
    assert_eq!(v["next"], link(5, 10));
    assert_eq!(v["total"], 12);
    // previous offset is clamped at 0.
    let v = list(&s, &p, "offset=3&limit=5").await;
    assert_eq!(names(&v), page(3, 8));
    assert_eq!(v["previous"], link(5, 0));
    assert_eq!(v["next"], link(5, 8));
    // Last page: no next.
    let v = list(&s, &p, "offset=10&limit=5").await;
    assert_eq!(names(&v), page(10, 12));
    assert_eq!(v["previous"], link(5, 5));
    assert!(v.get("next").is_none());
    // Exactly the end: no next either.
    let v = list(&s, &p, "offset=7&limit=5").await;
    assert_eq!(names(&v), page(7, 12));
    assert!(v.get("next").is_none());
    // Past the end: only the collection and the total.
    for q in ["offset=12", "offset=50&limit=5"] {
        assert_eq!(list(&s, &p, q).await, json!({"secrets": [], "total": 12}), "{q}");
    }
}

#[actix_web::test]
async fn nav_links_append_other_params_in_request_order() {
    let s = common::start().await;
    let p = common::project();
    for i in 0..5 {
        create_named(&s, &p, &format!("item {i}"), json!({"algorithm": "AES"})).await;
        tick().await;
    }
    let v = list(&s, &p, "name=item%25&limit=2&alg=AES&offset=2&foo=bar&sort=created:asc").await;
    assert_eq!(names(&v), vec!["item 2", "item 3"]);
    assert_eq!(v["total"], 5);
    let rest = "name=item%25&alg=AES&foo=bar&sort=created%3Aasc";
    assert_eq!(v["previous"], json!(format!("{}/v1/secrets?limit=2&offset=0&{rest}", s.base)));
    assert_eq!(v["next"], json!(format!("{}/v1/secrets?limit=2&offset=4&{rest}", s.base)));
    // A space is encoded as '+'.
    let v = list(&s, &p, "name=item+0&limit=1&offset=0&x=1").await;
    assert_eq!(names(&v), vec!["item 0"]);
    assert!(v.get("next").is_none(), "{v}");
    let v = list(&s, &p, "name=item%20%25&limit=1&offset=1").await;
    assert_eq!(v["previous"], json!(format!("{}/v1/secrets?limit=1&offset=0&name=item+%25", s.base)));
    assert_eq!(v["next"], json!(format!("{}/v1/secrets?limit=1&offset=2&name=item+%25", s.base)));
}

// ---- filters ---------------------------------------------------------------------------------

#[actix_web::test]
async fn name_filter_is_a_like_pattern() {
    let s = common::start().await;
    let p = common::project();
    for n in ["alpha-1", "alpha-2", "beta_1", "my secret", "gamma"] {
        create_named(&s, &p, n, json!({})).await;
    }
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("name=alpha-1", vec!["alpha-1"]),
        ("name=alpha%25", vec!["alpha-1", "alpha-2"]),
        ("name=alpha_1", vec!["alpha-1"]),
        ("name=%25_1", vec!["alpha-1", "beta_1"]),
        ("name=%25", vec!["alpha-1", "alpha-2", "beta_1", "gamma", "my secret"]),
        ("name=my+secret", vec!["my secret"]),
        ("name=my%20secret", vec!["my secret"]),
        // Unquoted once more: %2B → '+' → ' '.
        ("name=my%2Bsecret", vec!["my secret"]),
        ("name=nothing", vec![]),
        // An empty value is no filter.
        ("name=", vec!["alpha-1", "alpha-2", "beta_1", "gamma", "my secret"]),
    ];
    for (q, want) in cases {
        let v = list(&s, &p, q).await;
        assert_eq!(sorted_names(&v), want, "{q}");
        assert_eq!(v["total"], want.len(), "{q}");
    }
}

#[actix_web::test]
async fn attribute_filters() {
    let s = common::start().await;
    let p = common::project();
    create_named(&s, &p, "aes-cbc", json!({"algorithm": "AES", "mode": "cbc", "bit_length": 256, "secret_type": "symmetric"})).await;
    create_named(&s, &p, "aes-gcm", json!({"algorithm": "AES", "mode": "gcm", "bit_length": 128, "secret_type": "symmetric"})).await;
    create_named(&s, &p, "rsa", json!({"algorithm": "RSA", "bit_length": 2048, "secret_type": "private"})).await;
    create_named(&s, &p, "plain", json!({})).await;
    let all = vec!["aes-cbc", "aes-gcm", "plain", "rsa"];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("alg=AES", vec!["aes-cbc", "aes-gcm"]),
        ("alg=RS%25", vec!["rsa"]),
        ("alg=%25", vec!["aes-cbc", "aes-gcm", "rsa"]),
        ("mode=cbc", vec!["aes-cbc"]),
        ("mode=%25", vec!["aes-cbc", "aes-gcm"]),
        ("mode=_cm", vec!["aes-gcm"]),
        ("bits=128", vec!["aes-gcm"]),
        ("bits=2048", vec!["rsa"]),
        ("bits=512", vec![]),
        // Non-integer and non-positive values are ignored.
        ("bits=abc", all.clone()),
        ("bits=0", all.clone()),
        ("bits=-256", all.clone()),
        ("secret_type=symmetric", vec!["aes-cbc", "aes-gcm"]),
        ("secret_type=private", vec!["rsa"]),
        ("secret_type=opaque", vec!["plain"]),
        ("secret_type=sym%25", vec![]),
        ("alg=AES&mode=gcm", vec!["aes-gcm"]),
        ("alg=AES&bits=256&secret_type=symmetric", vec!["aes-cbc"]),
        ("unknown=param", all.clone()),
    ];
    for (q, want) in cases {
        let v = list(&s, &p, q).await;
        assert_eq!(sorted_names(&v), want, "{q}");
        assert_eq!(v["total"], want.len(), "{q}");
    }
}

#[actix_web::test]
async fn created_and_updated_date_filters() {
    let s = common::start().await;
    let p = common::project();
    let id1 = create_named(&s, &p, "one", json!({})).await;
    tick().await;
    let id2 = create_named(&s, &p, "two", json!({})).await;
    tick().await;
    let id3 = create_named(&s, &p, "three", json!({})).await;
    let (t1, t2, t3) = (created_of(&s, &p, &id1).await, created_of(&s, &p, &id2).await, created_of(&s, &p, &id3).await);
    assert!(t1 < t2 && t2 < t3, "{t1} {t2} {t3}");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("created=gt:{t1}"), vec!["three", "two"]),
        (format!("created=gt:{t1}Z"), vec!["three", "two"]),
        (format!("created=gte:{t2}"), vec!["three", "two"]),
        (format!("created=gte:{t2}Z"), vec!["three", "two"]),
        (format!("created=lt:{t2}"), vec!["one"]),
        (format!("created=lt:{t2}Z"), vec!["one"]),
        (format!("created=lte:{t2}"), vec!["one", "two"]),
        (format!("created={t2}"), vec!["two"]),
        (format!("created={t2}Z"), vec!["two"]),
        (format!("created=gt:{t1},lt:{t3}"), vec!["two"]),
        (format!("created=gte:{t1},lte:{t2}Z"), vec!["one", "two"]),
        (format!("created=gt:2000-01-01T00:00:00,{t3}"), vec!["three"]),
        ("created=lt:2000-01-01T00:00:00Z".to_string(), vec![]),
        ("created=gt:2000-01-01".to_string(), vec!["one", "three", "two"]),
    ];
    for (q, want) in cases {
        let v = list(&s, &p, &q).await;
        assert_eq!(sorted_names(&v), want, "{q}");
        assert_eq!(v["total"], want.len(), "{q}");
    }
    // Storing a payload moves `updated` of "one" past everything else.
    tick().await;
    let r = s.req(Method::PUT, &format!("/v1/secrets/{id1}"), &p).header("Content-Type", "text/plain").body("x").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let v = list(&s, &p, &format!("updated=gt:{t3}Z")).await;
    assert_eq!(names(&v), vec!["one"]);
    let v = list(&s, &p, &format!("updated=lte:{t3}")).await;
    assert_eq!(sorted_names(&v), vec!["three", "two"]);
}

#[actix_web::test]
async fn expiration_date_filter() {
    let s = common::start().await;
    let p = common::project();
    create_named(&s, &p, "january", json!({"expiration": "2031-01-01T00:00:00"})).await;
    create_named(&s, &p, "june", json!({"expiration": "2031-06-01T00:00:00Z"})).await;
    create_named(&s, &p, "never", json!({})).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("expiration=gt:2031-03-01T00:00:00Z", vec!["june"]),
        ("expiration=lte:2031-01-01T00:00:00", vec!["january"]),
        ("expiration=lt:2031-01-01T00:00:00", vec![]),
        ("expiration=2031-06-01T00:00:00", vec!["june"]),
        ("expiration=2031-06-01", vec!["june"]),
        ("expiration=gte:2031-01-01,lt:2031-06-01", vec!["january"]),
        ("expiration=gt:2000-01-01T00:00:00Z", vec!["january", "june"]),
    ];
    for (q, want) in cases {
        let v = list(&s, &p, q).await;
        assert_eq!(sorted_names(&v), want, "{q}");
    }
}

#[actix_web::test]
async fn invalid_date_filters_and_sorts_are_400() {
    let s = common::start().await;
    let p = common::project();
    create_named(&s, &p, "x", json!({})).await;
    for q in [
        "created=gt:bogus",
        "created=bogus",
        "created=gt:2020-01-01,gte:2020-01-01",
        "created=gte:2020-01-01,gt:2020-01-01",
        "created=lt:2030-01-01,lte:2030-01-01",
        "created=gte:2020-01-01,2020-01-02",
        "created=2020-01-02,gte:2020-01-01",
        "created=2020-01-02,lte:2030-01-01",
        "created=lte:2030-01-01,2020-01-02",
        "created=2020-01-01,2020-01-02",
        "updated=2020-13-01",
        "expiration=gt:x",
        "sort=bogus",
        "sort=name:up",
        "sort=name,name:desc",
        "sort=name:asc,name:asc",
        "sort=name:asc:x",
        "sort=name,bogus:desc",
    ] {
        let r = s.req(Method::GET, &format!("/v1/secrets?{q}"), &p).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some(BAD_QUERY)).await;
    }
}

// ---- sorting ---------------------------------------------------------------------------------

#[actix_web::test]
async fn sorting() {
    let s = common::start().await;
    let p = common::project();
    // Creation order b, a, c; algorithms x, y, x; bit lengths 2, 3, 1.
    for (n, alg, bits) in [("b", "x", 2), ("a", "y", 3), ("c", "x", 1)] {
        create_named(&s, &p, n, json!({"algorithm": alg, "bit_length": bits})).await;
        tick().await;
    }
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("", vec!["b", "a", "c"]),
        ("sort=created", vec!["b", "a", "c"]),
        ("sort=created:desc", vec!["c", "a", "b"]),
        ("sort=name", vec!["a", "b", "c"]),
        ("sort=name:asc", vec!["a", "b", "c"]),
        ("sort=name:desc", vec!["c", "b", "a"]),
        ("sort=bit_length", vec!["c", "b", "a"]),
        ("sort=bit_length:desc", vec!["a", "b", "c"]),
        ("sort=algorithm,name", vec!["b", "c", "a"]),
        ("sort=algorithm:asc,name:desc", vec!["c", "b", "a"]),
        ("sort=algorithm:desc,name:desc", vec!["a", "c", "b"]),
        ("sort=algorithm:desc,created:desc", vec!["a", "c", "b"]),
        ("sort=algorithm,created", vec!["b", "c", "a"]),
        ("sort=name:desc&limit=2&offset=1", vec!["b", "a"]),
    ];
    for (q, want) in cases {
        let v = list(&s, &p, q).await;
        assert_eq!(names(&v), want, "{q}");
    }
}

// ---- scope and representation ----------------------------------------------------------------

#[actix_web::test]
async fn lists_only_the_callers_project() {
    let s = common::start().await;
    let a = common::project();
    let b = common::project();
    let mut a_refs = Vec::new();
    for i in 0..3 {
        let id = create_named(&s, &a, &format!("a{i}"), json!({})).await;
        a_refs.push(format!("{}/v1/secrets/{id}", s.base));
    }
    let b_id = create_named(&s, &b, "b0", json!({})).await;
    let v = list(&s, &a, "").await;
    assert_eq!(v["total"], 3);
    let refs: Vec<String> = v["secrets"].as_array().unwrap().iter().map(|x| x["secret_ref"].as_str().unwrap().to_string()).collect();
    assert_eq!(refs, a_refs);
    let v = list(&s, &b, "name=a%25").await;
    assert_eq!(v, json!({"secrets": [], "total": 0}));
    let v = list(&s, &b, "").await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["secrets"][0]["secret_ref"], json!(format!("{}/v1/secrets/{b_id}", s.base)));
}

#[actix_web::test]
async fn items_follow_the_representation_by_microversion() {
    let s = common::start().await;
    let p = common::project();
    let bare = create_named(&s, &p, "bare", json!({})).await;
    tick().await;
    create_named(&s, &p, "full", json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    let base_keys = [
        "algorithm", "bit_length", "created", "creator_id", "expiration", "mode", "name", "secret_ref",
        "secret_type", "status", "updated",
    ];
    for (mv, consumers) in [(None, false), (Some("key-manager 1.0"), false), (Some("key-manager 1.1"), true), (Some("key-manager 1.2"), true)] {
        let mut rb = s.req(Method::GET, "/v1/secrets", &p);
        if let Some(mv) = mv {
            rb = rb.header("OpenStack-API-Version", mv);
        }
        let v: Value = rb.send().await.unwrap().json().await.unwrap();
        let items = v["secrets"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        for (item, has_payload) in items.iter().zip([false, true]) {
            let mut want: Vec<&str> = base_keys.to_vec();
            if consumers {
                want.push("consumers");
            }
            if has_payload {
                want.push("content_types");
            }
            want.sort();
            let mut got: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
            got.sort();
            assert_eq!(got, want, "{mv:?}");
            if consumers {
                assert_eq!(item["consumers"], json!([]));
            }
            if has_payload {
                assert_eq!(item["content_types"], json!({"default": "text/plain"}));
            }
        }
        assert_eq!(items[0]["secret_ref"], json!(format!("{}/v1/secrets/{bare}", s.base)));
        assert_eq!(items[0]["status"], "ACTIVE");
    }
}

#[actix_web::test]
async fn list_is_a_json_only_route() {
    let s = common::start().await;
    let p = common::project();
    for accept in ["text/plain", "application/octet-stream", "application/json;q=0"] {
        let r = s.req(Method::GET, "/v1/secrets", &p).header("Accept", accept).send().await.unwrap();
        common::assert_error(r, 406, "Not Acceptable", None).await;
    }
    for accept in ["application/json", "text/html,application/json", "application/json; charset=utf-8", "*/*"] {
        let r = s.req(Method::GET, "/v1/secrets", &p).header("Accept", accept).send().await.unwrap();
        assert_eq!(r.status(), 200, "{accept}");
    }
}

/// `created=<value as GET printed it>` selects exactly that secret, and `lt:<value>` exactly the
/// ones created before it (Barbican compares `created_at == parse_isotime(value)` at the
/// precision `isoformat()` printed); the same for `updated`. No pause between the creations.
#[actix_web::test]
async fn printed_timestamps_select_exactly() {
    let s = common::start().await;
    let p = common::project();
    let mut made = Vec::new();
    for i in 0..8 {
        let name = format!("s{i}");
        let id = create_named(&s, &p, &name, json!({})).await;
        let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        made.push((name, v["created"].as_str().unwrap().to_string(), v["updated"].as_str().unwrap().to_string()));
    }
    for (i, (name, created, updated)) in made.iter().enumerate() {
        let before: Vec<String> = made[..i].iter().map(|m| m.0.clone()).collect();
        for (field, ts) in [("created", created), ("updated", updated)] {
            let q = format!("{field}={}", urlencode(ts));
            assert_eq!(names(&list(&s, &p, &q).await), [name.clone()], "{q}");
            let q = format!("{field}=lt:{}", urlencode(ts));
            assert_eq!(sorted_names(&list(&s, &p, &q).await), before, "{q}");
            let q = format!("{field}=lte:{}", urlencode(ts));
            let mut upto = before.clone();
            upto.push(name.clone());
            assert_eq!(sorted_names(&list(&s, &p, &q).await), upto, "{q}");
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
