//! Event sources over HTTP: inbound webhook URLs that map any JSON to an event, with
//! delivery logs, signature checks, rotation, workspace isolation and the UI.

use crate::support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use sha2::Sha256;
use support::api::{Api, status_and_json, wait_until};
use support::{Herald, get_text, page_csrf};

fn create_source(api: &Api, body: Value) -> Response {
    api.post("/api/event-sources", &body)
}

/// Creates a source and returns `(id, hook path)`.
fn add_source(api: &Api, body: Value) -> (String, String) {
    let r = create_source(api, body);
    assert_eq!(r.status(), 201);
    let created: Value = r.json().unwrap();
    (
        created["id"].as_str().unwrap().to_string(),
        hook_path(&created),
    )
}

fn delivery_log(api: &Api, id: &str) -> Vec<Value> {
    api.get(&format!("/api/event-sources/{id}/deliveries"))["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

/// The path of a source's full URL, so tests call the server they started.
fn hook_path(created: &Value) -> String {
    let url = created["url"].as_str().expect("url shown at creation");
    let at = url.find("/hooks/events/").expect("hook path");
    let token = &url[at + "/hooks/events/".len()..];
    assert!(token.len() >= 32, "token carries at least 128 bits");
    url[at..].to_string()
}

fn deliver(herald: &Herald, path: &str, body: &str, headers: &[(&str, String)]) -> Response {
    let mut request = Client::new()
        .post(herald.url(path))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(body.to_string()).send().unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac(key: &[u8], message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

const CHECKOUT: &str = r#"{"type":"checkout.session.completed","data":{"object":{"customer_email":"Buyer@Example.com","amount_total":4200}}}"#;

fn stripe_source() -> Value {
    json!({"name": "Stripe", "emailPath": "data.object.customer_email", "eventNamePath": "type"})
}

#[test]
fn a_stripe_shaped_payload_becomes_an_event_and_a_contact() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (id, path) = add_source(&api, stripe_source());
    let probe = Client::new().get(herald.url(&path)).send().unwrap();
    assert_eq!(status_and_json(probe), (200, json!({"ok": true})));

    let (status, body) = status_and_json(deliver(&herald, &path, CHECKOUT, &[]));
    assert_eq!((status, body["ok"].clone()), (200, json!(true)), "{body}");
    let events = api.events("eventName=checkout.session.completed");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["email"], "buyer@example.com");
    assert_eq!(events[0]["source"], "webhook");
    assert_eq!(
        events[0]["sourceDetail"],
        json!({"source": "Stripe", "sourceId": id})
    );
    assert_eq!(
        events[0]["properties"]["data"]["object"]["amount_total"], 4200,
        "whole payload kept"
    );
    let contacts = api.get("/api/contacts?search=buyer");
    assert_eq!(contacts["contacts"][0]["email"], "buyer@example.com");
    assert_eq!(api.events("eventName=contact_added").len(), 1);

    let deliveries = delivery_log(&api, &id);
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["outcome"], "accepted");
    assert_eq!(deliveries[0]["email"], "buyer@example.com");
    assert_eq!(deliveries[0]["eventName"], "checkout.session.completed");
    assert_eq!(deliveries[0]["eventId"], events[0]["id"]);
    let source = api.get(&format!("/api/event-sources/{id}"));
    assert_eq!(
        source["deliveries"],
        json!({"accepted": 1, "skipped": 0, "rejected": 0})
    );
    assert!(
        source.get("url").is_none(),
        "the full URL is shown only once"
    );
    assert!(source["urlHint"].as_str().unwrap().ends_with('…'));
}

#[test]
fn array_indexes_and_fixed_event_names_map_payloads() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (_, path) = add_source(
        &api,
        json!({"name": "Shop", "emailPath": "items.0.email", "eventName": "orderPlaced"}),
    );
    let r = deliver(
        &herald,
        &path,
        r#"{"items":[{"email":"first@example.com"},{"email":"second@example.com"}]}"#,
        &[],
    );
    assert_eq!(r.status(), 200);
    let events = api.events("eventName=orderPlaced");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["email"], "first@example.com");
}

#[test]
fn form_encoded_deliveries_map_like_json_ones() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (id, path) = add_source(
        &api,
        json!({"name": "Billing", "emailPath": "customer.email", "eventNamePath": "type"}),
    );
    let post = |body: &str| {
        Client::new()
            .post(herald.url(&path))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let r = post(
        "type=invoice.paid&customer%5Bemail%5D=Payer%40Example.com&amount=4200&tags[]=a&tags[]=b",
    );
    let (status, body) = status_and_json(r);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    let events = api.events("eventName=invoice.paid");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["email"], "payer@example.com");
    assert_eq!(events[0]["properties"]["amount"], "4200");
    assert_eq!(events[0]["properties"]["tags"], json!(["a", "b"]));
    // A form without the email is skipped with the reason, like a JSON one.
    let r = post("type=invoice.paid&amount=1");
    assert_eq!(
        status_and_json(r).1["skipped"],
        "no value at customer.email"
    );
    let log = delivery_log(&api, &id);
    assert_eq!(log.len(), 2);
    assert!(log.iter().any(|d| {
        d["payload"]
            .as_str()
            .unwrap_or("")
            .contains("customer%5Bemail%5D")
    }));
    assert_eq!(api.events("eventName=invoice.paid").len(), 1);
}

#[test]
fn unmappable_payloads_are_skipped_with_the_reason_and_nothing_is_ingested() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (id, path) = add_source(&api, stripe_source());
    let cases = [
        (
            r#"{"type":"x","data":{}}"#,
            "no value at data.object.customer_email",
        ),
        (
            r#"{"type":"x","data":{"object":{"customer_email":42}}}"#,
            "value at data.object.customer_email is a number, not a string",
        ),
        (
            r#"{"data":{"object":{"customer_email":"a@example.com"}}}"#,
            "no value at type",
        ),
        (
            r#"{"type":"x","data":{"object":{"customer_email":"not-an-email"}}}"#,
            "'not-an-email' is not a valid email address",
        ),
        ("[1,2]", "payload is not a JSON object"),
    ];
    for (payload, reason) in cases {
        let (status, body) = status_and_json(deliver(&herald, &path, payload, &[]));
        assert_eq!(status, 200, "{payload}");
        assert_eq!(body, json!({"ok": true, "skipped": reason}));
    }
    let (status, _) = status_and_json(deliver(&herald, &path, "{not json", &[]));
    assert_eq!(status, 400);

    let deliveries = delivery_log(&api, &id);
    assert_eq!(deliveries.len(), 6);
    assert_eq!(deliveries[0]["outcome"], "rejected", "newest first");
    assert!(
        deliveries[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON")
    );
    assert_eq!(deliveries[0]["payload"], "{not json");
    assert_eq!(deliveries[5]["outcome"], "skipped");
    assert_eq!(
        deliveries[5]["reason"],
        "no value at data.object.customer_email"
    );
    assert_eq!(
        deliveries[3]["email"], "a@example.com",
        "email kept when the name was missing"
    );
    assert!(api.events("").is_empty(), "nothing ingested");

    let first = api.get(&format!("/api/event-sources/{id}/deliveries?limit=4"));
    assert_eq!(first["deliveries"].as_array().unwrap().len(), 4);
    let cursor = first["nextCursor"].as_str().unwrap();
    let rest = api.get(&format!(
        "/api/event-sources/{id}/deliveries?limit=4&cursor={cursor}"
    ));
    assert_eq!(rest["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(
        rest["deliveries"][1]["reason"],
        "no value at data.object.customer_email"
    );
    assert!(rest["nextCursor"].is_null());
}

#[test]
fn stripe_signatures_are_checked() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let secret = "whsec_stripe_test_secret";
    let mut spec = stripe_source();
    spec["signature"] = json!("stripe");
    spec["signingSecret"] = json!(secret);
    let (id, path) = add_source(&api, spec);
    let t = now();
    let good = hex::encode(hmac(secret.as_bytes(), &format!("{t}.{CHECKOUT}")));
    let header = format!("t={t},v1=deadbeef,v1={good}");
    let r = deliver(&herald, &path, CHECKOUT, &[("Stripe-Signature", header)]);
    assert_eq!(r.status(), 200);
    assert_eq!(api.events("eventName=checkout.session.completed").len(), 1);

    let wrong = hex::encode(hmac(b"other", &format!("{t}.{CHECKOUT}")));
    let stale = hex::encode(hmac(secret.as_bytes(), &format!("{}.{CHECKOUT}", t - 600)));
    for header in [
        Some(format!("t={t},v1={wrong}")),
        Some(format!("t={},v1={stale}", t - 600)),
        None,
    ] {
        let headers: Vec<(&str, String)> = header
            .into_iter()
            .map(|h| ("Stripe-Signature", h))
            .collect();
        let (status, body) = status_and_json(deliver(&herald, &path, CHECKOUT, &headers));
        assert_eq!(status, 401);
        assert_eq!(body["statusCode"], 401);
    }
    assert_eq!(
        api.events("eventName=checkout.session.completed").len(),
        1,
        "nothing more ingested"
    );
    let outcomes: Vec<Value> = delivery_log(&api, &id)
        .iter()
        .map(|d| d["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            json!("rejected"),
            json!("rejected"),
            json!("rejected"),
            json!("accepted")
        ]
    );
}

#[test]
fn standard_webhooks_signatures_are_checked() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let key = b"standard-webhooks-key-bytes";
    let mut spec = stripe_source();
    spec["signature"] = json!("standard");
    spec["signingSecret"] = json!(format!("whsec_{}", STANDARD.encode(key)));
    let (id, path) = add_source(&api, spec);
    let t = now();
    let sign = |key: &[u8]| {
        format!(
            "v1,{}",
            STANDARD.encode(hmac(key, &format!("msg_1.{t}.{CHECKOUT}")))
        )
    };
    let headers = |signature: String| {
        vec![
            ("webhook-id", "msg_1".to_string()),
            ("webhook-timestamp", t.to_string()),
            ("webhook-signature", signature),
        ]
    };
    let r = deliver(
        &herald,
        &path,
        CHECKOUT,
        &headers(format!("v1,bm90IGl0 {}", sign(key))),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(api.events("eventName=checkout.session.completed").len(), 1);

    assert_eq!(
        deliver(&herald, &path, CHECKOUT, &headers(sign(b"wrong key"))).status(),
        401
    );
    assert_eq!(
        deliver(&herald, &path, CHECKOUT, &[]).status(),
        401,
        "missing signature"
    );
    let tampered = CHECKOUT.replace("4200", "1");
    assert_eq!(
        deliver(&herald, &path, &tampered, &headers(sign(key))).status(),
        401
    );
    assert_eq!(api.events("eventName=checkout.session.completed").len(), 1);
    let deliveries = delivery_log(&api, &id);
    assert_eq!(deliveries[0]["outcome"], "rejected");
    assert!(
        deliveries[1]["reason"]
            .as_str()
            .unwrap()
            .contains("missing webhook-id"),
        "{}",
        deliveries[1]
    );
}

/// Standard Webhooks: the same webhook-id, signed again at a later time, is a duplicate;
/// another webhook-id is another event.
fn standard_webhooks_retries_are_duplicates(herald: &Herald, api: &Api) {
    let key = b"standard-webhooks-key-bytes";
    let mut spec = stripe_source();
    spec["name"] = json!("Standard");
    spec["signature"] = json!("standard");
    spec["signingSecret"] = json!(format!("whsec_{}", STANDARD.encode(key)));
    let (standard_id, standard_path) = add_source(api, spec);
    let send = |msg: &str, t: i64| {
        let signature = format!(
            "v1,{}",
            STANDARD.encode(hmac(key, &format!("{msg}.{t}.{CHECKOUT}")))
        );
        status_and_json(deliver(
            herald,
            &standard_path,
            CHECKOUT,
            &[
                ("webhook-id", msg.to_string()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", signature),
            ],
        ))
    };
    let t = now();
    let (status, first) = send("msg_retry", t);
    assert_eq!(status, 200);
    assert!(first.get("duplicate").is_none(), "{first}");
    assert_eq!(
        send("msg_retry", t + 5),
        (200, json!({"ok": true, "duplicate": true}))
    );
    assert_eq!(api.events("eventName=checkout.session.completed").len(), 1);
    let (status, other) = send("msg_other", t);
    assert_eq!((status, other.get("duplicate")), (200, None));
    assert_eq!(
        api.events("eventName=checkout.session.completed").len(),
        2,
        "another delivery id is another event"
    );
    let deliveries = delivery_log(api, &standard_id);
    let outcomes: Vec<&str> = deliveries
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["accepted", "skipped", "accepted"]);
    assert!(
        deliveries[1]["reason"]
            .as_str()
            .unwrap()
            .contains("msg_retry"),
        "{}",
        deliveries[1]
    );
}

/// Stripe: a delivery of the same event id is a duplicate.
fn stripe_retries_are_duplicates(herald: &Herald, api: &Api) {
    let (_, stripe_path) = add_source(
        api,
        json!({"name": "Stripe", "emailPath": "data.object.customer_email", "eventNamePath": "type", "signature": "stripe", "signingSecret": "whsec_s"}),
    );
    let event = |id: &str| {
        format!(
            r#"{{"id":"{id}","type":"invoice.paid","data":{{"object":{{"customer_email":"payer@example.com"}}}}}}"#
        )
    };
    let stripe = |body: &str| {
        let t = now();
        let sig = hex::encode(hmac(b"whsec_s", &format!("{t}.{body}")));
        status_and_json(deliver(
            herald,
            &stripe_path,
            body,
            &[("Stripe-Signature", format!("t={t},v1={sig}"))],
        ))
    };
    assert_eq!(stripe(&event("evt_1")).0, 200);
    assert_eq!(stripe(&event("evt_1")).1["duplicate"], true);
    assert_eq!(stripe(&event("evt_2")).1.get("duplicate"), None);
    assert_eq!(api.events("eventName=invoice.paid").len(), 2);
}

#[test]
fn provider_retries_of_an_ingested_delivery_are_recorded_not_ingested_twice() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    standard_webhooks_retries_are_duplicates(&herald, &api);
    stripe_retries_are_duplicates(&herald, &api);
}

#[test]
fn a_stripe_delivery_replayed_under_a_fresh_webhook_id_header_is_skipped_not_ingested_again() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (id, path) = add_source(
        &api,
        json!({"name": "Stripe", "emailPath": "data.object.customer_email", "eventNamePath": "type", "signature": "stripe", "signingSecret": "whsec_s"}),
    );
    let body = r#"{"id":"evt_replayed","type":"invoice.paid","data":{"object":{"customer_email":"payer@example.com"}}}"#;
    let t = now();
    let signature = format!(
        "t={t},v1={}",
        hex::encode(hmac(b"whsec_s", &format!("{t}.{body}")))
    );
    let (status, first) = status_and_json(deliver(
        &herald,
        &path,
        body,
        &[("Stripe-Signature", signature.clone())],
    ));
    assert_eq!(status, 200);
    assert!(first.get("duplicate").is_none(), "{first}");
    // The captured delivery again, inside the tolerance, with an unsigned header added.
    let replay = deliver(
        &herald,
        &path,
        body,
        &[
            ("Stripe-Signature", signature),
            ("webhook-id", "msg_attacker_fresh".to_string()),
            ("svix-id", "msg_attacker_fresh".to_string()),
        ],
    );
    assert_eq!(
        status_and_json(replay),
        (200, json!({"ok": true, "duplicate": true}))
    );
    assert_eq!(api.events("eventName=invoice.paid").len(), 1);
    let deliveries = delivery_log(&api, &id);
    let outcomes: Vec<&str> = deliveries
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["skipped", "accepted"], "newest first");
    let reason = deliveries[0]["reason"].as_str().unwrap();
    assert!(reason.contains("evt_replayed"), "{reason}");
}

#[test]
fn disabled_rotated_and_deleted_sources_stop_accepting() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (id, path) = add_source(&api, stripe_source());
    let source_path = format!("/api/event-sources/{id}");
    let patch = |enabled: bool| api.patch(&source_path, &json!({"enabled": enabled}));

    let (status, body) = status_and_json(patch(false));
    assert_eq!((status, body["enabled"].clone()), (200, json!(false)));
    let (status, body) = status_and_json(deliver(&herald, &path, CHECKOUT, &[]));
    assert_eq!((status, body["statusCode"].clone()), (410, json!(410)));
    assert_eq!(delivery_log(&api, &id)[0]["outcome"], "rejected");
    assert_eq!(patch(true).status(), 200);
    assert_eq!(deliver(&herald, &path, CHECKOUT, &[]).status(), 200);

    let rotated: Value = api
        .send("POST", &format!("{source_path}/rotate"), None)
        .json()
        .unwrap();
    let new_path = hook_path(&rotated);
    assert_ne!(new_path, path);
    assert_eq!(
        deliver(&herald, &path, CHECKOUT, &[]).status(),
        404,
        "old URL dead at once"
    );
    assert_eq!(
        Client::new()
            .get(herald.url(&path))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(deliver(&herald, &new_path, CHECKOUT, &[]).status(), 200);
    assert_eq!(api.events("eventName=checkout.session.completed").len(), 2);

    assert_eq!(api.delete(&source_path).status(), 204);
    assert_eq!(api.get_response(&source_path).status(), 404);
    assert_eq!(
        api.get_response(&format!("{source_path}/deliveries"))
            .status(),
        404
    );
    assert_eq!(deliver(&herald, &new_path, CHECKOUT, &[]).status(), 404);
    assert_eq!(api.delete(&source_path).status(), 404);
}

#[test]
fn another_workspace_never_sees_or_changes_a_source() {
    let herald = Herald::start();
    let a = Api::new(&herald, "Acme");
    let b = Api::new(&herald, "Globex");
    let (id, path) = add_source(&a, stripe_source());
    deliver(&herald, &path, CHECKOUT, &[]);
    let source_path = format!("/api/event-sources/{id}");
    assert_eq!(b.get_response(&source_path).status(), 404);
    assert_eq!(
        b.get_response(&format!("{source_path}/deliveries"))
            .status(),
        404
    );
    let patched = b.patch(&source_path, &json!({"enabled": false}));
    assert_eq!(patched.status(), 404);
    assert_eq!(
        b.send("POST", &format!("{source_path}/rotate"), None)
            .status(),
        404
    );
    assert_eq!(b.delete(&source_path).status(), 404);
    assert_eq!(b.get("/api/event-sources")["eventSources"], json!([]));
    assert!(b.events("").is_empty(), "the event landed in A only");
    assert_eq!(a.get(&source_path)["enabled"], true);
    assert_eq!(
        a.get("/api/event-sources")["eventSources"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_definitions_are_400_naming_the_problem() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let cases = [
        (
            json!({"emailPath": "e", "eventName": "x"}),
            "name is required",
        ),
        (
            json!({"name": "s", "eventName": "x"}),
            "emailPath is required",
        ),
        (json!({"name": "s", "emailPath": "e"}), "exactly one"),
        (
            json!({"name": "s", "emailPath": "e", "eventName": "x", "eventNamePath": "type"}),
            "not both",
        ),
        (
            json!({"name": "s", "emailPath": "a..b", "eventName": "x"}),
            "emailPath",
        ),
        (
            json!({"name": "s", "emailPath": "e", "eventName": "x", "signature": "hmac"}),
            "signature must be one of",
        ),
        (
            json!({"name": "s", "emailPath": "e", "eventName": "x", "signature": "standard", "signingSecret": "abc"}),
            "whsec_",
        ),
        (
            json!({"name": "s", "emailPath": "e", "eventName": "x", "signature": "stripe"}),
            "signingSecret is required",
        ),
        (
            json!({"name": "s", "emailPath": "e", "eventName": "x", "colour": "red"}),
            "Unknown field 'colour'",
        ),
        (
            json!({"name": 5, "emailPath": "e", "eventName": "x"}),
            "name must be a string",
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = status_and_json(create_source(&api, body.clone()));
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["statusCode"], 400);
        assert_eq!(error["error"], "Bad Request");
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{body}: {error}"
        );
    }
    assert_eq!(api.get("/api/event-sources")["eventSources"], json!([]));
    let bad_patch = api.patch("/api/event-sources/x", &json!({"enabled": "yes"}));
    assert_eq!(bad_patch.status(), 400);
}

/// The create form filled in for a "Billing" source, with the given CSRF token.
fn billing_source_form(csrf: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf_token", csrf.to_string()),
        ("name", "<b>Billing</b>".to_string()),
        ("email_path", "customer.email".to_string()),
        ("event_name", "invoicePaid".to_string()),
        ("event_name_path", String::new()),
        ("signature", "none".to_string()),
        ("signing_secret", String::new()),
    ]
}

/// Creates the source with the form (a forged token is refused first) and returns the
/// hook path the page shows, once.
fn create_source_in_the_ui(herald: &Herald, browser: &Client, token: &str) -> String {
    let forged = browser
        .post(herald.url("/events/sources"))
        .form(&billing_source_form("forged"))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);
    let created = browser
        .post(herald.url("/events/sources"))
        .form(&billing_source_form(token))
        .send()
        .unwrap();
    assert_eq!(created.status(), 200);
    let page = created.text().unwrap();
    let start = page
        .find("/hooks/events/")
        .expect("the full URL is shown once");
    let hook: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '_')
        .collect();
    assert_eq!(hook.len(), "/hooks/events/".len() + 64);
    assert!(page.contains("data-copy"));
    hook
}

/// The list shows the source escaped, with its URL's prefix and its delivery counts,
/// and the detail page shows its deliveries. Returns the source's id.
fn the_ui_lists_and_shows_the_source(
    herald: &Herald,
    browser: &Client,
    api: &Api,
    hook: &str,
) -> String {
    let list = get_text(herald, browser, "/events/sources");
    assert!(
        list.contains("&lt;b&gt;Billing&lt;/b&gt;") && !list.contains("<b>Billing</b>"),
        "escaped"
    );
    assert!(
        list.contains(&format!("{}…", &hook[..hook.len() - 56])),
        "URL prefix listed"
    );
    assert!(!list.contains(hook), "full URL not listed");
    assert!(list.contains("1 accepted · 1 skipped · 0 rejected"));
    let id = api.get("/api/event-sources")["eventSources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = get_text(herald, browser, &format!("/events/sources/{id}"));
    assert!(detail.contains("payer@example.com"));
    assert!(detail.contains("no value at customer.email"));
    assert!(detail.contains("data-confirm"));
    id
}

/// Disables the source with the form (a forged token is refused first), so its hook
/// answers 410, then deletes it.
fn disable_then_delete_in_the_ui(
    herald: &Herald,
    browser: &Client,
    token: &str,
    id: &str,
    hook: &str,
) {
    let disable = |csrf: &str| {
        browser
            .post(herald.url(&format!("/events/sources/{id}/disable")))
            .form(&[("csrf_token", csrf)])
            .send()
            .unwrap()
    };
    assert_eq!(disable("forged").status(), 403);
    assert_eq!(disable(token).status(), 303);
    assert_eq!(
        deliver(
            herald,
            hook,
            r#"{"customer":{"email":"payer@example.com"}}"#,
            &[]
        )
        .status(),
        410
    );
    let deleted = browser
        .post(herald.url(&format!("/events/sources/{id}/delete")))
        .form(&[("csrf_token", token)])
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert_eq!(
        browser
            .get(herald.url(&format!("/events/sources/{id}")))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn owners_create_list_and_inspect_sources_in_the_ui() {
    let herald = Herald::start();
    let (browser, api) = herald.owner_signed_in("ada@example.com", "Acme", "analytical-engine");
    let token = page_csrf(&herald, &browser, "/events/sources");
    let hook = create_source_in_the_ui(&herald, &browser, &token);

    let r = deliver(
        &herald,
        &hook,
        r#"{"customer":{"email":"payer@example.com"}}"#,
        &[],
    );
    assert_eq!(r.status(), 200);
    deliver(&herald, &hook, r#"{"customer":{}}"#, &[]);
    assert_eq!(api.events("eventName=invoicePaid").len(), 1);

    let id = the_ui_lists_and_shows_the_source(&herald, &browser, &api, &hook);
    disable_then_delete_in_the_ui(&herald, &browser, &token, &id, &hook);
}

#[test]
fn members_may_look_but_not_change_sources() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    herald.add_user("bob@example.com", "Acme", "difference-engine", "member");
    let browser = herald.signed_in("bob@example.com", "difference-engine");
    let page = browser.get(herald.url("/events/sources")).send().unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().unwrap();
    assert!(!page.contains("Create event source"));
    let token = support::csrf_from(&page);
    let r = browser
        .post(herald.url("/events/sources"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "x"),
            ("email_path", "e"),
            ("event_name", "x"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn deliveries_past_their_retention_are_pruned_by_maintenance() {
    let mut herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let (id, path) = add_source(&api, stripe_source());
    assert_eq!(deliver(&herald, &path, CHECKOUT, &[]).status(), 200);
    assert_eq!(deliver(&herald, &path, CHECKOUT, &[]).status(), 200);
    assert_eq!(delivery_log(&api, &id).len(), 2);
    herald.terminate();
    {
        // The first delivery came in 31 days ago; maintenance is due now.
        let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
        let day = 24 * 3_600_000_i64;
        conn.execute(
            "UPDATE source_deliveries SET received_at = received_at - 31 * ?1 WHERE id = (SELECT MIN(id) FROM source_deliveries)",
            [day],
        )
        .unwrap();
        conn.execute("UPDATE jobs SET due_at = 0 WHERE kind = 'maintenance'", [])
            .unwrap();
    }
    herald.spawn();
    // The restarted server listens on a new port.
    let api = Api::with_key(&herald, api.key);
    wait_until(
        "the old delivery to be pruned",
        Duration::from_secs(5),
        || delivery_log(&api, &id).len() == 1,
    );
    assert_eq!(
        api.events("eventName=checkout.session.completed").len(),
        2,
        "pruning the delivery log keeps the events"
    );
}
