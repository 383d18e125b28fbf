//! Outbound webhook endpoints (seed 004's `POST /v1/webhooks`): the seed's request and
//! answer, the `{success: false, error}` envelope for mistakes, deliveries to a real HTTP
//! receiver on loopback signed the Standard Webhooks way (verified with the official
//! `standardwebhooks` package), retries on the test clock, 410 Gone, and workspaces kept
//! apart. Herald runs in this process on a manual clock.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::InProcessHerald;
use support::api::{Api, status_and_json, wait_until};
use support::receiver::{Behaviour, Receiver};

fn start() -> InProcessHerald {
    InProcessHerald::start_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.ratelimit.requests_per_second = 0.0;
    })
}

fn create(api: &Api, body: Value) -> Value {
    let (status, answer) = status_and_json(api.post("/v1/webhooks", &body));
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["success"], true);
    answer["data"].clone()
}

fn send_event(api: &Api, email: &str) {
    let r = api.post(
        "/api/events/send",
        &json!({"email": email, "eventName": "signUp", "eventProperties": {"plan": "pro"}}),
    );
    assert_eq!(r.status(), 200);
}

fn deliveries(api: &Api, webhook: &str) -> Vec<Value> {
    api.get(&format!("/v1/webhooks/{webhook}/deliveries"))["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_seeds_request_creates_a_webhook_with_the_seeds_defaults() {
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let data = create(
        &api,
        json!({"name": "  CRM Sync ", "url": "https://crm.example.com/webhooks/sendkit",
               "events": ["email.replied", "email.positive_reply"]}),
    );
    assert_eq!(data["name"], "CRM Sync", "the name is trimmed");
    assert_eq!(data["url"], "https://crm.example.com/webhooks/sendkit");
    assert_eq!(
        data["events"],
        json!(["email.replied", "email.positive_reply"])
    );
    assert_eq!(data["retryAttempts"], 3);
    assert_eq!(data["timeoutMs"], 10000);
    assert_eq!(data["status"], "active");
    let secret = data["secret"].as_str().unwrap();
    assert!(
        secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()),
        "a random 32-byte hex secret: {secret}"
    );
    assert!(
        data["signingSecret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    for key in ["_id", "workspaceId", "createdBy", "createdAt", "updatedAt"] {
        assert!(data[key].is_string(), "{key} in {data}");
    }
    // The same under /api/v1, and the listing does not show the secret again.
    let (status, _) = status_and_json(api.post(
        "/api/v1/webhooks",
        &json!({"name": "Two", "url": "https://two.example.com/h", "events": ["*"],
                "secret": "my-own-secret-of-20c", "retryAttempts": 0, "timeoutMs": 2000}),
    ));
    assert_eq!(status, 201);
    let listed = api.get("/v1/webhooks")["data"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_ne!(listed[0]["secret"], data["secret"]);
}

#[test]
fn mistakes_get_the_envelope_naming_the_field_and_write_nothing() {
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let bad = [
        (
            json!({"url": "https://a.example.com", "events": ["*"]}),
            "name",
        ),
        (json!({"name": "x", "events": ["*"]}), "url"),
        (
            json!({"name": "x", "url": "ftp://a.example.com", "events": ["*"]}),
            "url",
        ),
        (
            json!({"name": "x", "url": "https://a.example.com", "events": []}),
            "events",
        ),
        (
            json!({"name": "x", "url": "https://a.example.com", "events": ["contact.exploded"]}),
            "events[0]",
        ),
        (
            json!({"name": "x", "url": "https://a.example.com", "events": ["*"], "retryAttempts": 99}),
            "retryAttempts",
        ),
        (
            json!({"name": "x", "url": "https://a.example.com", "events": ["*"], "timeoutMs": "fast"}),
            "timeoutMs",
        ),
        (
            json!({"name": "x", "url": "https://a.example.com", "events": ["*"], "headers": {"webhook-id": "x"}}),
            "headers.webhook-id",
        ),
        (
            json!({"name": "x", "url": "https://a.example.com", "events": ["*"], "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in bad {
        let (status, answer) = status_and_json(api.post("/v1/webhooks", &body));
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (_, unknown) = status_and_json(api.post(
        "/v1/webhooks",
        &json!({"name": "x", "url": "https://a.example.com", "events": ["contact.exploded"]}),
    ));
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contact.created"),
        "the valid names are listed: {unknown}"
    );
    let anonymous = reqwest::blocking::Client::new()
        .post(herald.url("/v1/webhooks"))
        .json(&json!({"name": "x"}))
        .send()
        .unwrap();
    let (status, answer) = status_and_json(anonymous);
    assert_eq!(status, 401);
    assert_eq!(answer["success"], false);
    assert_eq!(answer["error"]["code"], "UNAUTHORIZED");
    assert_eq!(
        api.get("/v1/webhooks")["data"],
        json!([]),
        "nothing was written"
    );
}

#[test]
fn what_happens_is_delivered_signed_and_verifies_with_standardwebhooks() {
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    let hook = create(
        &api,
        json!({"name": "CRM", "url": receiver.url("/hook"), "events": ["contact.*", "event.received"],
               "headers": {"Authorization": "Bearer crm-token-123456"}}),
    );
    send_event(&api, "ada@example.com");
    let got = receiver.wait_for(2, Duration::from_secs(10));
    let events: Vec<String> = got
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        ["contact.created", "event.received"],
        "in the order they happened"
    );
    let received: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(received["payload"]["event"]["name"], "signUp");
    assert_eq!(received["payload"]["contact"]["email"], "ada@example.com");
    assert!(received["timestamp"].is_string());
    assert_eq!(
        got[0].header("authorization").as_deref(),
        Some("Bearer crm-token-123456")
    );

    let headers = json!({
        "webhook-id": got[1].header("webhook-id").unwrap(),
        "webhook-timestamp": got[1].header("webhook-timestamp").unwrap(),
        "webhook-signature": got[1].header("webhook-signature").unwrap(),
    });
    let whsec = hook["signingSecret"].as_str().unwrap();
    if let Some(ok) = support::standard_webhooks::verifies(whsec, &headers, &got[1].body) {
        assert!(ok, "standardwebhooks accepts the call");
        let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(
            support::standard_webhooks::verifies(other, &headers, &got[1].body),
            Some(false)
        );
    }

    let id = hook["_id"].as_str().unwrap();
    wait_until("both deliveries recorded", Duration::from_secs(10), || {
        deliveries(&api, id).len() == 2
    });
    let list = deliveries(&api, id);
    assert!(
        list.iter()
            .all(|d| d["status"] == "succeeded" && d["attempts"] == 1),
        "{list:?}"
    );
    let one = api.get(&format!(
        "/v1/webhooks/{id}/deliveries/{}",
        list[0]["_id"].as_str().unwrap()
    ));
    let log = &one["data"]["attemptLog"][0];
    assert_eq!(log["responseStatus"], 200);
    assert_eq!(
        log["requestHeaders"]["authorization"], "Bear••••",
        "extra header values are masked"
    );
    // Unsubscribed events are not sent: nothing matches list.* here.
    assert_eq!(receiver.count(), 2);
}

#[test]
fn failures_are_retried_on_the_clock_and_410_disables_the_endpoint() {
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    receiver.answer_for(
        "/flaky",
        Behaviour::Sequence(vec![
            Behaviour::Status(500),
            Behaviour::StatusWithRetryAfter(503, 120),
            Behaviour::Ok,
        ]),
    );
    let hook = create(
        &api,
        json!({"name": "Flaky", "url": receiver.url("/flaky"), "events": ["contact.created"]}),
    );
    let id = hook["_id"].as_str().unwrap().to_string();
    send_event(&api, "ada@example.com");
    receiver.wait_for(1, Duration::from_secs(10));
    wait_until("the failure recorded", Duration::from_secs(10), || {
        deliveries(&api, &id)
            .first()
            .is_some_and(|d| d["status"] == "pending")
    });
    // The first retry waits about 10 s (±20%): not due after 7 s, due after 13 s.
    herald.advance(Duration::from_secs(7));
    herald.advance(Duration::from_secs(6));
    receiver.wait_for(2, Duration::from_secs(10));
    wait_until(
        "the second failure recorded",
        Duration::from_secs(10),
        || deliveries(&api, &id)[0]["attempts"] == 2,
    );
    // Retry-After: 120 outlasts the 40 s backoff.
    herald.advance(Duration::from_secs(60));
    let d = deliveries(&api, &id)[0].clone();
    assert_eq!(
        d["status"], "pending",
        "still waiting for the Retry-After: {d}"
    );
    herald.advance(Duration::from_secs(70));
    receiver.wait_for(3, Duration::from_secs(10));
    wait_until("the delivery succeeded", Duration::from_secs(10), || {
        deliveries(&api, &id)[0]["status"] == "succeeded"
    });
    assert_eq!(deliveries(&api, &id)[0]["attempts"], 3);
    assert_eq!(
        receiver.unique_ids().len(),
        1,
        "one message, one webhook-id across retries"
    );

    receiver.answer_for("/gone", Behaviour::Gone);
    let gone = create(
        &api,
        json!({"name": "Gone", "url": receiver.url("/gone"), "events": ["contact.created"]}),
    );
    let gone_id = gone["_id"].as_str().unwrap();
    send_event(&api, "bob@example.com");
    wait_until("the endpoint disabled", Duration::from_secs(10), || {
        api.get(&format!("/v1/webhooks/{gone_id}"))["data"]["status"] == "disabled"
    });
    let data = api.get(&format!("/v1/webhooks/{gone_id}"))["data"].clone();
    assert!(
        data["disabledReason"].as_str().unwrap().contains("410"),
        "{data}"
    );
    assert_eq!(
        deliveries(&api, gone_id)[0]["status"],
        "failed",
        "410 is not retried"
    );
}

#[test]
fn a_workspace_never_sees_nor_hears_another_workspaces_webhooks() {
    let herald = start();
    let acme = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let receiver = Receiver::start();
    let hook = create(
        &acme,
        json!({"name": "A", "url": receiver.url("/a"), "events": ["*"]}),
    );
    let id = hook["_id"].as_str().unwrap();
    for path in [
        format!("/v1/webhooks/{id}"),
        format!("/v1/webhooks/{id}/deliveries"),
    ] {
        let (status, answer) = status_and_json(other.get_response(&path));
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["success"], false);
    }
    let (status, _) = status_and_json(other.delete(&format!("/v1/webhooks/{id}")));
    assert_eq!(status, 404);
    assert_eq!(other.get("/v1/webhooks")["data"], json!([]));
    send_event(&other, "someone@other.example.com");
    send_event(&acme, "ada@example.com");
    let got = receiver.wait_for(2, Duration::from_secs(10));
    assert!(
        got.iter().all(|r| !r.body.contains("other.example.com")),
        "Acme's endpoint hears only Acme"
    );
    assert!(got.iter().any(|r| r.body.contains("ada@example.com")));
}
