//! Waits are durable timers: kill -9 while 1,000 enrollments wait; after a restart every
//! one completes and no email is sent twice.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::Herald;
use support::smtp::SmtpSink;

#[test]
fn kill_9_while_a_thousand_enrollments_wait_then_all_complete_once() {
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let mut herald = Herald::start_with(&[
        ("HERALD_SMTP__HOST", "127.0.0.1"),
        ("HERALD_SERVER__BASE_URL", "{base}"),
        ("HERALD_SMTP__PORT", port.as_str()),
        ("HERALD_SMTP__TLS", "none"),
        ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
    ]);
    let key = herald.workspace_with_key("Acme");
    let client = Client::new();
    let template: Value = client
        .post(herald.url("/api/templates"))
        .header("X-API-Key", &key)
        .json(&json!({"name": "Later", "subject": "Later, {{contact.email}}", "html": "<p>later</p>"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let created = client
        .post(herald.url("/api/automations"))
        .header("X-API-Key", &key)
        .json(&json!({
            "name": "Delayed", "status": "active",
            "trigger": {"type": "event", "event": "joined"},
            "steps": [{"type": "wait", "duration": "6s"}, {"type": "email", "template": template["id"]}]
        }))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let automation_url = herald.url(&format!(
        "/api/automations/{}",
        created.json::<Value>().unwrap()["id"].as_str().unwrap()
    ));

    let url = herald.url("/api/events/send");
    let senders: Vec<_> = (0..8)
        .map(|t| {
            let (url, key) = (url.clone(), key.clone());
            std::thread::spawn(move || {
                let client = Client::new();
                for i in (t..1000).step_by(8) {
                    let r = client
                        .post(&url)
                        .header("X-API-Key", &key)
                        .json(&json!({"email": format!("member{i}@example.com"), "eventName": "joined"}))
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    assert_eq!(r.json::<Value>().unwrap()["enrolled"], 1);
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let automation: Value = client
            .get(&automation_url)
            .header("X-API-Key", &key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let waiting = automation["enrollments"]["waiting"].as_i64().unwrap();
        if waiting == 1000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {waiting} enrollments reached their wait"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sink.messages().is_empty(),
        "nothing sent before the wait ends"
    );
    herald.crash();
    herald.spawn();

    let got = sink.wait_for(1000, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let got = if sink.messages().len() > got.len() {
        sink.messages()
    } else {
        got
    };
    assert_eq!(
        got.len(),
        1000,
        "each waiting enrollment sent exactly one email"
    );
    let recipients: HashSet<String> = got.iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(recipients.len(), 1000, "no email twice");
    let completed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM enrollments WHERE state = 'completed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(completed, 1000);
    let sent: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE status = 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sent, 1000);
}
