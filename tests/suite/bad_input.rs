//! Bad input gets a clear 4xx in the family's shape: JSON under /api, a page in the UI.

use crate::support;

use reqwest::blocking::Client;
use serde_json::Value;
use support::Herald;
use support::api::Api;

fn api_error(response: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "JSON error body"
    );
    let body: Value = response.json().unwrap();
    assert_eq!(body["statusCode"], status);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["error"].is_string());
    body
}

fn started() -> (Herald, Api) {
    let herald = Herald::start_with(&[("HERALD_SERVER__MAX_BODY_BYTES", "4096")]);
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    (herald, api)
}

#[test]
fn malformed_json_is_a_400_and_changes_nothing() {
    let (_herald, api) = started();
    for body in [
        "{\"name\": ",
        "not json",
        "[]",
        "{\"name\": 5}",
        "{\"name\": \"x\", \"extra\": 1}",
        "{}",
    ] {
        let r = api.send_body("PATCH", "/api/workspace", "application/json", body);
        api_error(r, 400);
    }
    let r = api.patch("/api/workspace", &serde_json::json!({"name": "   "}));
    api_error(r, 400);
    assert_eq!(api.get("/api/workspace")["name"], "Acme");
}

#[test]
fn wrong_content_type_is_a_415() {
    let (_herald, api) = started();
    let r = api.send_body("PATCH", "/api/workspace", "text/plain", "{\"name\": \"x\"}");
    api_error(r, 415);
}

#[test]
fn oversize_bodies_are_a_413_at_the_configured_limit() {
    let (_herald, api) = started();
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(5000));
    let r = api.send_body("PATCH", "/api/workspace", "application/json", big);
    let body = api_error(r, 413);
    assert!(body["message"].as_str().unwrap().contains("4096"));
}

#[test]
fn unknown_api_routes_and_methods_get_json() {
    let (_herald, api) = started();
    api_error(api.get_response("/api/nothing-here"), 404);
    api_error(api.delete("/api/workspace"), 404);
}

#[test]
fn unknown_pages_and_bad_forms_get_a_friendly_page() {
    let (herald, _) = started();
    let client = Client::new();
    let r = client.get(herald.url("/no/such/page")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().unwrap().contains("Page not found"));

    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    let r = browser
        .post(herald.url("/settings/api-keys"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name={}", "a".repeat(10_000)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = browser
        .post(herald.url("/settings/members"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("garbage")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("form could not be read"));
}
