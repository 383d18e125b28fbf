//! Waits are durable timers: kill -9 while 1,000 enrollments wait; after a restart every
//! one completes and no email is sent twice.
//!
//! The server runs on a clock read from a file (`HERALD_CLOCK_FILE`), so the day-long wait
//! ends when the test moves that clock, not after real time passes.

use crate::support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::Herald;
use support::api::{Api, wait_for};
use support::smtp::SmtpSink;

/// An active automation that waits a day, then emails; returns its API path.
fn delayed_email(api: &Api) -> String {
    let template = api.post(
        "/api/templates",
        &json!({"name": "Later", "subject": "Later, {{contact.email}}", "html": "<p>later</p>"}),
    );
    let template: Value = template.json().unwrap();
    let created = api.post(
        "/api/automations",
        &json!({
            "name": "Delayed", "status": "active",
            "trigger": {"type": "event", "event": "joined"},
            "steps": [{"type": "wait", "duration": "1d"}, {"type": "email", "template": template["id"]}]
        }),
    );
    assert_eq!(created.status(), 201);
    let created: Value = created.json().unwrap();
    format!("/api/automations/{}", created["id"].as_str().unwrap())
}

/// A thousand contacts join at once, from eight clients; each is enrolled.
fn a_thousand_join(api: &Api) {
    let senders: Vec<_> = (0..8)
        .map(|t| {
            let api = api.with_own_client();
            std::thread::spawn(move || {
                for i in (t..1000).step_by(8) {
                    let r = api.post(
                        "/api/events/send",
                        &json!({"email": format!("member{i}@example.com"), "eventName": "joined"}),
                    );
                    assert_eq!(r.status(), 200);
                    assert_eq!(r.json::<Value>().unwrap()["enrolled"], 1);
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn kill_9_while_a_thousand_enrollments_wait_then_all_complete_once() {
    let sink = SmtpSink::start();
    let time = tempfile::tempdir().unwrap();
    let clock = time.path().join("now");
    let start_ms: i64 = 1_800_000_000_000;
    std::fs::write(&clock, start_ms.to_string()).unwrap();
    let mut herald = Herald::start_with_smtp(
        sink.port,
        &[
            ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
            ("HERALD_CLOCK_FILE", clock.to_str().unwrap()),
        ],
    );
    let api = Api::new(&herald, "Acme");
    let automation = delayed_email(&api);
    a_thousand_join(&api);
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    wait_for(
        "every enrollment to reach its wait",
        Duration::from_secs(20),
        || {
            api.get(&automation)["enrollments"]["waiting"]
                .as_i64()
                .unwrap()
        },
        |waiting| *waiting == 1000,
    );
    assert!(
        sink.messages().is_empty(),
        "nothing sent before the wait ends"
    );
    herald.crash();
    herald.spawn();
    assert!(
        sink.messages().is_empty(),
        "a restart does not end a wait early"
    );
    let day_later = start_ms + 24 * 3600 * 1000 + 1000;
    std::fs::write(&clock, day_later.to_string()).unwrap();

    // A deadline, not a pause: it returns as soon as the mail is in; a starved machine
    // (the suite at low priority beside a build) needs minutes for a thousand sends.
    sink.wait_for(1000, Duration::from_secs(240));
    // Once every message is final and no send or enrollment job is left, nothing more can
    // go out: what the sink holds is all the mail there will be.
    wait_for(
        "deliveries to settle",
        Duration::from_secs(30),
        || {
            count(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE status = 'queued' OR status = 'sending'",
            ) + count(
                &conn,
                "SELECT COUNT(*) FROM jobs WHERE kind != 'maintenance' AND (status = 'pending' OR status = 'running')",
            )
        },
        |pending| *pending == 0,
    );
    let got = sink.messages();
    assert_eq!(
        got.len(),
        1000,
        "each waiting enrollment sent exactly one email"
    );
    let recipients: HashSet<String> = got.iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(recipients.len(), 1000, "no email twice");
    let completed = count(
        &conn,
        "SELECT COUNT(*) FROM enrollments WHERE state = 'completed'",
    );
    assert_eq!(completed, 1000);
    let sent = count(&conn, "SELECT COUNT(*) FROM messages WHERE status = 'sent'");
    assert_eq!(sent, 1000);
}
