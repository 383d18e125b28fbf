//! Webhook delivery like a webhook service: nothing lost across a kill -9, one hanging
//! endpoint never holds up another, no redirect followed, response bodies cut at 20 KB,
//! secret rotation with both signatures for a day, redelivery and test events, endpoints
//! disabled after a run of failures and caught up when enabled again, and the events of
//! automations, messages and lists. Receivers are real HTTP servers on loopback.

use crate::support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::{Api, status_and_json, wait_until};
use support::receiver::{Behaviour, Receiver};
use support::smtp::SmtpSink;
use support::{Herald, InProcessHerald};

const WAIT: Duration = Duration::from_secs(15);

fn start_with(configure: impl FnOnce(&mut herald::config::Config)) -> InProcessHerald {
    InProcessHerald::start_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.ratelimit.requests_per_second = 0.0;
        configure(config);
    })
}

fn create(api: &Api, body: Value) -> String {
    let (status, answer) = status_and_json(api.post("/v1/webhooks", &body));
    assert_eq!(status, 201, "{answer}");
    answer["data"]["_id"].as_str().unwrap().to_string()
}

fn send_event(api: &Api, email: &str, n: u64) {
    let r = api.post(
        "/api/events/send",
        &json!({"email": email, "eventName": "signUp", "eventProperties": {"n": n}}),
    );
    assert_eq!(r.status(), 200);
}

fn deliveries(api: &Api, webhook: &str) -> Vec<Value> {
    api.get(&format!("/v1/webhooks/{webhook}/deliveries"))["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn event_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["event"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn kill_9_while_events_flow_loses_no_webhook_of_a_committed_event() {
    let receiver = Receiver::start();
    let mut herald = Herald::start_with(&[
        ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
        ("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
    ]);
    let api = Api::new(&herald, "Acme");
    create(
        &api,
        json!({"name": "All", "url": receiver.url("/all"), "events": ["event.received"]}),
    );
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/api/events/send", api.base);
    let sender = {
        let (acknowledged, stop, key) = (acknowledged.clone(), stop.clone(), api.key.clone());
        std::thread::spawn(move || {
            let client = Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = json!({"email": format!("p{}@example.com", n % 50), "eventName": "tick", "eventProperties": {"n": n}});
                if let Ok(r) = client
                    .post(&url)
                    .header("X-API-Key", &key)
                    .json(&body)
                    .send()
                    && r.status() == 200
                {
                    acknowledged.lock().unwrap().push(n);
                }
            }
        })
    };
    wait_until("events to flow", WAIT, || {
        acknowledged.lock().unwrap().len() > 200
    });
    herald.crash();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    herald.spawn();
    let heard = || -> HashSet<u64> {
        receiver
            .requests()
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["payload"]["event"]["properties"]["n"].as_u64().unwrap())
            .collect()
    };
    wait_until(
        "every acknowledged event's webhook",
        Duration::from_secs(60),
        || {
            let heard = heard();
            acknowledged.iter().all(|n| heard.contains(n))
        },
    );
    // Delivered at least once: a repeat carries the same webhook-id, so the receiver can
    // drop it; no id stands for two events.
    assert_eq!(receiver.unique_ids().len(), heard().len());
}

#[test]
fn a_hanging_endpoint_never_holds_up_another() {
    let herald = start_with(|_| {});
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    receiver.answer_for("/hang", Behaviour::Hang);
    let hanging = create(
        &api,
        json!({"name": "Slow", "url": receiver.url("/hang"), "events": ["event.received"], "timeoutMs": 20000}),
    );
    create(
        &api,
        json!({"name": "Fast", "url": receiver.url("/fast"), "events": ["event.received"]}),
    );
    for n in 0..5 {
        send_event(&api, "ada@example.com", n);
    }
    wait_until("the fast endpoint to get all five", WAIT, || {
        receiver.requests_to("/fast").len() == 5
    });
    assert_eq!(
        receiver.requests_to("/hang").len(),
        1,
        "the slow one is still on its first"
    );
    assert!(
        deliveries(&api, &hanging).is_empty(),
        "its first attempt has not ended"
    );
    receiver.release();
}

#[test]
fn redirects_are_not_followed_and_bodies_are_kept_to_20_kb() {
    let herald = start_with(|_| {});
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    receiver.answer_for("/moved", Behaviour::Redirect(receiver.url("/target")));
    receiver.answer_for("/big", Behaviour::LargeBody(50_000));
    let moved = create(
        &api,
        json!({"name": "Moved", "url": receiver.url("/moved"), "events": ["contact.created"]}),
    );
    let big = create(
        &api,
        json!({"name": "Big", "url": receiver.url("/big"), "events": ["contact.created"]}),
    );
    send_event(&api, "ada@example.com", 1);
    wait_until("both attempts recorded", WAIT, || {
        deliveries(&api, &moved).len() == 1 && deliveries(&api, &big).len() == 1
    });
    let d = &deliveries(&api, &moved)[0];
    assert_eq!(
        d["status"], "pending",
        "a redirect is a failure, retried: {d}"
    );
    assert!(
        d["lastError"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert!(
        receiver.requests_to("/target").is_empty(),
        "the Location was never called"
    );
    let d = &deliveries(&api, &big)[0];
    assert_eq!(d["status"], "succeeded");
    let one = api.get(&format!(
        "/v1/webhooks/{big}/deliveries/{}",
        d["_id"].as_str().unwrap()
    ));
    let kept = one["data"]["attemptLog"][0]["responseBody"]
        .as_str()
        .unwrap();
    assert_eq!(kept.len(), 20 * 1024);
}

#[test]
fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
    let herald = start_with(|_| {});
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    let id = create(
        &api,
        json!({"name": "R", "url": receiver.url("/r"), "events": ["event.received"]}),
    );
    send_event(&api, "ada@example.com", 1);
    let first = receiver.wait_for(1, WAIT);
    let signatures =
        |r: &support::receiver::Request| r.header("webhook-signature").unwrap().split(' ').count();
    assert_eq!(signatures(&first[0]), 1);
    let (status, rotated) =
        status_and_json(api.post(&format!("/v1/webhooks/{id}/rotate-secret"), &json!({})));
    assert_eq!(status, 200, "{rotated}");
    send_event(&api, "ada@example.com", 2);
    let second = receiver.wait_for(2, WAIT);
    assert_eq!(
        signatures(&second[1]),
        2,
        "new and old secret both sign during the grace day"
    );
    herald.advance(Duration::from_secs(25 * 3600));
    send_event(&api, "ada@example.com", 3);
    let third = receiver.wait_for(3, WAIT);
    assert_eq!(
        signatures(&third[2]),
        1,
        "after a day only the new secret signs"
    );
    let secret = api.get(&format!("/v1/webhooks/{id}/secret"))["data"]["secret"].clone();
    assert_eq!(secret, rotated["data"]["secret"]);
}

#[test]
fn deliveries_are_redelivered_by_hand_and_a_test_event_reaches_one_endpoint() {
    let herald = start_with(|_| {});
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    receiver.answer_for("/down", Behaviour::Status(500));
    let down = create(
        &api,
        json!({"name": "Down", "url": receiver.url("/down"), "events": ["contact.created"], "retryAttempts": 0}),
    );
    let other = create(
        &api,
        json!({"name": "Other", "url": receiver.url("/other"), "events": ["list.joined"]}),
    );
    send_event(&api, "ada@example.com", 1);
    wait_until("the failure recorded", WAIT, || {
        deliveries(&api, &down)
            .first()
            .is_some_and(|d| d["status"] == "failed")
    });
    receiver.answer_for("/down", Behaviour::Ok);
    let (status, _) = status_and_json(api.post(
        &format!("/v1/webhooks/{down}/redeliver-failed"),
        &json!({"since": "2000-01-01T00:00:00Z"}),
    ));
    assert_eq!(status, 202);
    wait_until("the redelivery succeeded", WAIT, || {
        deliveries(&api, &down)[0]["status"] == "succeeded"
    });
    assert_eq!(deliveries(&api, &down)[0]["attempts"], 2);
    let one = deliveries(&api, &down)[0]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = status_and_json(api.post(
        &format!("/v1/webhooks/{down}/deliveries/{one}/redeliver"),
        &json!({}),
    ));
    assert_eq!(status, 202);
    wait_until("the third attempt", WAIT, || {
        deliveries(&api, &down)[0]["attempts"] == 3
    });
    assert_eq!(
        receiver.unique_ids().len(),
        1,
        "every attempt carries the message's id"
    );

    let (status, _) = status_and_json(api.post(&format!("/v1/webhooks/{other}/test"), &json!({})));
    assert_eq!(status, 202);
    let test = receiver.wait_for(4, WAIT);
    assert_eq!(event_of(&test[3].body), "webhook.test");
    assert_eq!(test[3].path, "/other");
    assert_eq!(
        receiver.requests_to("/down").len(),
        3,
        "the test went to one endpoint only"
    );
}

#[test]
fn a_run_of_failures_disables_an_endpoint_which_catches_up_when_enabled() {
    let herald = start_with(|config| {
        config.webhooks.disable_after_failures = 3;
        config.webhooks.disable_after_days = 1;
    });
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    receiver.answer_for("/down", Behaviour::Status(500));
    let down = create(
        &api,
        json!({"name": "Down", "url": receiver.url("/down"), "events": ["event.received"], "retryAttempts": 0}),
    );
    for n in 0..3 {
        send_event(&api, "ada@example.com", n);
    }
    let shown = |id: &str| api.get(&format!("/v1/webhooks/{id}"))["data"].clone();
    wait_until("disabled after three failures", WAIT, || {
        shown(&down)["status"] == "disabled"
    });
    assert!(
        shown(&down)["disabledReason"]
            .as_str()
            .unwrap()
            .contains("3 attempts in a row")
    );

    // Events while disabled wait in the outbox; enabling delivers them, in order.
    send_event(&api, "ada@example.com", 3);
    send_event(&api, "ada@example.com", 4);
    receiver.answer_for("/down", Behaviour::Ok);
    let (status, _) = status_and_json(api.post(&format!("/v1/webhooks/{down}/enable"), &json!({})));
    assert_eq!(status, 200);
    let got = receiver.wait_for(5, WAIT);
    let ns: Vec<u64> = got[3..]
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["payload"]["event"]["properties"]["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ns, [3, 4]);

    // Failing for longer than a day disables too, whatever the count.
    receiver.answer_for("/slow-death", Behaviour::Status(503));
    let dying = create(
        &api,
        json!({"name": "Dying", "url": receiver.url("/slow-death"), "events": ["contact.updated"], "retryAttempts": 10}),
    );
    let r = api.post(
        "/api/events/send",
        &json!({"email": "ada@example.com", "eventName": "renamed", "contactProperties": {"firstName": "Ada"}}),
    );
    assert_eq!(r.status(), 200);
    wait_until("the first failure", WAIT, || {
        !deliveries(&api, &dying).is_empty()
    });
    herald.advance(Duration::from_secs(25 * 3600));
    wait_until("disabled after a day of failures", WAIT, || {
        shown(&dying)["status"] == "disabled"
    });
    assert!(
        shown(&dying)["disabledReason"]
            .as_str()
            .unwrap()
            .contains("1 days")
    );
}

#[test]
fn automations_messages_and_lists_are_heard() {
    let sink = SmtpSink::start();
    let herald = InProcessHerald::start_with_smtp(sink.port, |config| {
        config.webhooks.allow_private_targets = true;
        config.ratelimit.requests_per_second = 0.0;
    });
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    create(
        &api,
        json!({"name": "Ops", "url": receiver.url("/ops"), "events": ["automation.*", "message.*", "list.joined"]}),
    );
    let template = api.create(
        "/api/templates",
        &json!({"name": "Hi", "subject": "Hello", "html": "<p>Hello</p>"}),
    );
    let list = api.create("/api/lists", &json!({"name": "Customers"}));
    api.create(
        "/api/automations",
        &json!({"name": "Welcome", "status": "active",
                "trigger": {"type": "event", "event": "signUp"},
                "steps": [{"type": "add_to_list", "list": list}, {"type": "email", "template": template}]}),
    );
    send_event(&api, "ada@example.com", 1);
    sink.wait_for(1, WAIT);
    wait_until("the message.sent webhook", WAIT, || {
        receiver
            .requests()
            .iter()
            .any(|r| event_of(&r.body) == "message.sent")
    });
    let events: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| event_of(&r.body))
        .collect();
    for expected in [
        "automation.enrolled",
        "list.joined",
        "message.queued",
        "automation.completed",
        "message.sent",
    ] {
        assert!(
            events.contains(&expected.to_string()),
            "{expected} in {events:?}"
        );
    }
    let sent = receiver
        .requests()
        .into_iter()
        .find(|r| event_of(&r.body) == "message.sent")
        .unwrap();
    let body: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["payload"]["message"]["to"], "ada@example.com");
    assert_eq!(body["payload"]["message"]["status"], "sent");
}

#[test]
fn erasing_a_contact_erases_what_the_outbox_holds_of_it() {
    let herald = start_with(|_| {});
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    // Disabled, so every message waits in the outbox.
    create(
        &api,
        json!({"name": "Later", "url": receiver.url("/later"), "events": ["*"], "status": "disabled"}),
    );
    send_event(&api, "ada@example.com", 1);
    send_event(&api, "bob@example.com", 2);
    let about = |email: &str| -> i64 {
        herald.query(&format!(
            "SELECT COUNT(*) FROM webhook_messages WHERE body LIKE '%{email}%' AND event_type != 'contact.deleted'"
        ))
    };
    assert!(
        about("ada@example.com") >= 2,
        "contact.created and event.received"
    );
    let ada = api.get("/api/contacts?search=ada%40example.com")["contacts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api.delete(&format!("/api/contacts/{ada}"));
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(about("ada@example.com"), 0);
    assert!(about("bob@example.com") >= 2, "others are kept");
    let deleted: i64 =
        herald.query("SELECT COUNT(*) FROM webhook_messages WHERE event_type = 'contact.deleted'");
    assert_eq!(deleted, 1, "receivers still hear of the deletion");
}

#[test]
fn the_outbox_and_its_log_are_pruned_after_the_retention_days() {
    let herald = start_with(|config| config.webhooks.retention_days = 1);
    let api = Api::new(&herald, "Acme");
    let receiver = Receiver::start();
    let id = create(
        &api,
        json!({"name": "R", "url": receiver.url("/r"), "events": ["event.received"]}),
    );
    send_event(&api, "ada@example.com", 1);
    wait_until("the delivery recorded", WAIT, || {
        deliveries(&api, &id).len() == 1
    });
    herald.advance(Duration::from_secs(25 * 3600));
    wait_until("the hourly clean-up to prune it", WAIT, || {
        herald.query::<i64>("SELECT COUNT(*) FROM webhook_messages") == 0
    });
    assert!(
        deliveries(&api, &id).is_empty(),
        "its delivery and log went with it"
    );
    let attempts: i64 = herald.query("SELECT COUNT(*) FROM webhook_attempts");
    assert_eq!(attempts, 0);
}
