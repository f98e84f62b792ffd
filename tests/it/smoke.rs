use crate::common;
use serde_json::json;

#[actix_web::test]
async fn store_and_read_back() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "n", "payload": "hello", "payload_content_type": "text/plain"})).await;
    let r = s.req(reqwest::Method::GET, &format!("/v1/secrets/{id}/payload"), &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(r.text().await.unwrap(), "hello");
}
