//! Which addresses a webhook step may reach: loopback in disguise (IPv4-mapped IPv6, a
//! name that resolves to loopback) is refused under the default configuration and
//! delivered when private targets are allowed, and redirects are never followed. Every
//! receiver is on loopback; nothing else is ever contacted.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Herald;
use support::api::{Api, wait_for};
use support::receiver::{assert_never_contacted, loopback_listener, serve};

/// An active automation whose steps call `urls` in order when `paid` arrives.
fn calling(api: &Api, urls: &[String]) -> String {
    let steps: Vec<Value> = urls
        .iter()
        .map(|u| json!({"type": "webhook", "url": u, "method": "POST"}))
        .collect();
    let id = api.create(
        "/api/automations",
        &json!({"name": "Hook", "status": "active", "trigger": {"type": "event", "event": "paid"}, "steps": steps}),
    );
    api.post_ok(
        "/api/events/send",
        &json!({"email": "w@example.com", "eventName": "paid"}),
    );
    id
}

/// Waits until every webhook step of the automation's one enrollment has an outcome
/// other than `queued`, and returns those outcomes in step order.
fn outcomes(api: &Api, automation: &str, steps: usize) -> Vec<Value> {
    let settled = |list: &Value| -> Vec<Value> {
        list["enrollments"][0]["steps"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter(|s| s["outcome"] != "queued")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = wait_for(
        "the webhook steps' outcomes",
        Duration::from_secs(15),
        || api.get(&format!("/api/automations/{automation}/enrollments")),
        |list| settled(list).len() >= steps,
    );
    settled(&list)
}

fn disguised_loopback_urls(port: u16) -> Vec<String> {
    vec![
        format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
        format!("http://localhost:{port}/named"),
    ]
}

#[test]
fn loopback_in_disguise_is_refused_by_default_and_the_receiver_sees_nothing() {
    let (listener, port) = loopback_listener();
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let automation = calling(&api, &disguised_loopback_urls(port));
    let outcomes = outcomes(&api, &automation, 2);
    for step in &outcomes {
        assert_eq!(step["outcome"], "refused", "{step}");
        let reason = step["detail"]["error"].as_str().unwrap();
        assert!(reason.contains("loopback"), "{reason}");
        assert!(reason.contains("allow_private_targets"), "{reason}");
    }
    let mapped = outcomes.iter().find(|s| s["position"] == "0").unwrap();
    assert!(
        mapped["detail"]["error"]
            .as_str()
            .unwrap()
            .contains("::ffff:127.0.0.1"),
        "{mapped}"
    );
    assert_never_contacted(&listener);
}

#[test]
fn loopback_targets_are_delivered_when_private_targets_are_allowed() {
    let (listener, port) = loopback_listener();
    let receiver = serve(listener, 2, "HTTP/1.1 204 No Content\r\n\r\n");
    let herald = Herald::start_with(&[("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")]);
    let api = Api::new(&herald, "Acme");
    let automation = calling(&api, &disguised_loopback_urls(port));
    let (_, seen) = receiver.join().unwrap();
    let mut paths: Vec<&str> = seen
        .iter()
        .map(|r| r.split_whitespace().nth(1).unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/mapped", "/named"]);
    for step in outcomes(&api, &automation, 2) {
        assert_eq!(step["outcome"], "delivered", "{step}");
        assert_eq!(step["detail"]["status"], 204);
    }
}

#[test]
fn a_redirect_from_the_receiver_is_not_followed() {
    let (listener, port) = loopback_listener();
    // The redirect points back at the same receiver: following it would be a second
    // request here and a 204, so a recorded 302 and an empty backlog show it was not.
    let receiver = serve(
        listener,
        1,
        "HTTP/1.1 302 Found\r\nLocation: /landed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let herald = Herald::start_with(&[
        ("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ("HERALD_JOBS__MAX_ATTEMPTS", "1"),
    ]);
    let api = Api::new(&herald, "Acme");
    let automation = calling(&api, &[format!("http://127.0.0.1:{port}/hook")]);
    let (listener, seen) = receiver.join().unwrap();
    assert!(seen[0].starts_with("POST /hook "), "{}", seen[0]);
    let step = outcomes(&api, &automation, 1).remove(0);
    assert_eq!(step["outcome"], "attempt failed", "{step}");
    assert_eq!(step["detail"]["error"], "HTTP 302");
    assert_never_contacted(&listener);
}
