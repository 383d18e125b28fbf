//! The Events pages as a signed-in user sees them: the log with filters and deep links,
//! undeclared names with one-click "Declare them", and patterns.

use crate::support;

use reqwest::blocking::Client;
use serde_json::json;
use support::api::Api;
use support::{Herald, get_text, page_csrf};

fn setup() -> (Herald, Client, Api) {
    let herald = Herald::start();
    let (browser, api) = herald.owner_signed_in("ada@example.com", "Acme", "analytical-engine");
    (herald, browser, api)
}

fn send(api: &Api, email: &str, name: &str) {
    let r = api.post(
        "/api/events/send",
        &json!({"email": email, "eventName": name, "eventProperties": {"note": "<b>bold</b>"}}),
    );
    assert_eq!(r.status(), 200);
}

#[test]
fn the_log_lists_filters_and_deep_links_events() {
    let (herald, browser, api) = setup();
    send(&api, "carol@example.com", "signUp");
    send(&api, "bob@example.com", "upgraded");
    let page = get_text(&herald, &browser, "/events");
    assert!(page.contains("signUp") && page.contains("upgraded"));
    assert!(page.contains("carol@example.com") && page.contains("bob@example.com"));
    assert!(
        page.contains("&lt;b&gt;bold&lt;/b&gt;"),
        "properties shown escaped"
    );
    assert!(!page.contains("<b>bold</b>"));
    assert!(page.contains("undeclared"));

    let filtered = get_text(&herald, &browser, "/events?eventName=upgraded");
    assert!(filtered.contains("bob@example.com"));
    assert!(
        !filtered.contains("carol@example.com"),
        "deep link is pre-filtered"
    );
    let by_email = get_text(&herald, &browser, "/events?email=carol%40example.com");
    assert!(by_email.contains("signUp") && !by_email.contains("bob@example.com"));
    let bad = browser
        .get(herald.url("/events?from=not-a-date"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 200);
    assert!(
        bad.text()
            .unwrap()
            .contains("from must be an ISO 8601 date")
    );
}

#[test]
fn declare_them_declares_every_undeclared_name_in_one_click() {
    let (herald, browser, api) = setup();
    send(&api, "ada@example.com", "signUp");
    send(&api, "ada@example.com", "invoicePaid");
    let page = get_text(&herald, &browser, "/events");
    assert!(page.contains("Declare them"));
    let token = page_csrf(&herald, &browser, "/events");
    let r = browser
        .post(herald.url("/events/declare"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = get_text(&herald, &browser, "/events");
    assert!(!page.contains("Declare them"));
    assert!(!page.contains(">undeclared<"));
    let patterns = api.get("/api/event-patterns");
    let names: Vec<&str> = patterns["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["invoicePaid", "signUp"]);

    let refused = browser
        .post(herald.url("/events/declare"))
        .form(&[("csrf_token", "forged")])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
}

#[test]
fn patterns_page_adds_validates_and_removes() {
    let (herald, browser, _) = setup();
    let token = page_csrf(&herald, &browser, "/events/patterns");
    browser
        .post(herald.url("/events/patterns"))
        .form(&[("name", "trialStarted"), ("csrf_token", token.as_str())])
        .send()
        .unwrap();
    browser
        .post(herald.url("/events/patterns"))
        .form(&[("name", "9bad name"), ("csrf_token", token.as_str())])
        .send()
        .unwrap();
    let page = get_text(&herald, &browser, "/events/patterns");
    assert!(page.contains("trialStarted"));
    assert!(
        page.contains("Invalid pattern name"),
        "the refusal is shown"
    );
    assert!(
        page.contains("/events?eventName=trialStarted"),
        "Log link deep-links the log"
    );
    let r = browser
        .post(herald.url("/events/patterns/trialStarted/delete"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = get_text(&herald, &browser, "/events/patterns");
    assert!(!page.contains("<code>trialStarted</code>"));
}
