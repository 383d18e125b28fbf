//! Kill -9 while applications send through `POST /api/integration/generic`: after a
//! restart every message that got a 200 is sent exactly once or marked failed with its
//! reason (one caught mid-send is never sent again, so it cannot arrive twice); none is
//! lost and none arrives twice.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::Herald;
use support::api::{Api, wait_for};
use support::smtp::SmtpSink;

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Eight clients send through the token until the server goes away; `message(i)` is the
/// recipient and body of send `i`. Collects the recipients whose send got a 200.
fn send_until_killed(
    herald: &Herald,
    token: &str,
    accepted: Arc<Mutex<HashSet<String>>>,
    message: fn(usize) -> (String, Value),
) -> Vec<std::thread::JoinHandle<()>> {
    (0..8)
        .map(|t| {
            let (url, token, accepted) = (
                herald.url("/api/integration/generic"),
                token.to_string(),
                accepted.clone(),
            );
            std::thread::spawn(move || {
                let client = Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                for i in (t..100_000).step_by(8) {
                    let (to, body) = message(i);
                    match client.post(&url).bearer_auth(&token).json(&body).send() {
                        Ok(r) if r.status() == 200 => {
                            accepted.lock().unwrap().insert(to);
                        }
                        Ok(r) => panic!("{}: {}", r.status(), r.text().unwrap_or_default()),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect()
}

fn email(i: usize) -> (String, Value) {
    let to = format!("customer{i}@example.com");
    let body = json!({"to": to, "subject": "Order {i}", "body": "Thanks"});
    (to, body)
}

fn text(i: usize) -> (String, Value) {
    let to = format!("+1555{i:07}");
    let body = json!({"to": to, "body": format!("Code {i}")});
    (to, body)
}

#[test]
fn kill_9_while_generic_sends_flow_loses_none_and_sends_none_twice() {
    let sink = SmtpSink::start();
    let mut herald =
        Herald::start_with_smtp(sink.port, &[("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0")]);
    let api = Api::new(&herald, "Acme");
    let channel: Value = api
        .post(
            "/api/channels",
            &json!({"kind": "email", "name": "Shop", "fromAddress": "shop@acme.test"}),
        )
        .json()
        .unwrap();
    let made: Value = api
        .post(
            &format!("/api/channels/{}/tokens", channel["id"].as_str().unwrap()),
            &json!({}),
        )
        .json()
        .unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let senders = send_until_killed(&herald, &token, accepted.clone(), email);
    wait_for(
        "some sends accepted and some delivered",
        Duration::from_secs(60),
        || (accepted.lock().unwrap().len(), sink.messages().len()),
        |(a, s)| *a >= 300 && *s >= 50,
    );
    herald.crash();
    for s in senders {
        s.join().unwrap();
    }
    herald.spawn();
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    wait_for(
        "every message to be final",
        Duration::from_secs(240),
        || {
            count(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')",
            ) + count(
                &conn,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'send_message' AND status IN ('pending', 'running')",
            )
        },
        |left| *left == 0,
    );

    let accepted = accepted.lock().unwrap().clone();
    let mut statuses: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT to_address, status, reason FROM messages")
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
    {
        let (to, status, reason): (String, String, Option<String>) = row.unwrap();
        statuses.insert(to, (status, reason));
    }
    let received: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.to[0].trim_matches(['<', '>']).to_string())
        .collect();
    let distinct: HashSet<&String> = received.iter().collect();
    assert_eq!(distinct.len(), received.len(), "no message arrived twice");
    for to in &accepted {
        match statuses.get(to) {
            Some((s, _)) if s == "sent" => {
                assert!(distinct.contains(to), "{to} is sent and arrived")
            }
            Some((s, Some(reason))) if s == "failed" => {
                assert!(reason.contains("interrupted"), "{to} failed: {reason}")
            }
            other => panic!("{to} was acknowledged, then {other:?}"),
        }
    }
    let failed = accepted
        .iter()
        .filter(|t| statuses[*t].0 == "failed")
        .count();
    // The job loop keeps at most 512 sends in flight: only those can be caught mid-send.
    assert!(
        failed <= 512,
        "only messages caught mid-send fail ({failed})"
    );
    let sent = count(&conn, "SELECT COUNT(*) FROM messages WHERE status = 'sent'") as usize;
    assert!(
        sent + failed >= accepted.len(),
        "every acknowledged message is final"
    );
    println!(
        "{} acknowledged, {failed} caught mid-send, {sent} sent, {} arrived",
        accepted.len(),
        received.len()
    );
}

#[test]
fn kill_9_while_texts_are_in_flight_sends_every_acknowledged_one_once_and_none_twice() {
    let twilio = support::twilio::FakeTwilio::start();
    let mut herald = Herald::start_with(&[
        ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
        ("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
    ]);
    let api = Api::new(&herald, "Acme");
    let channel: Value = api
        .post(
            "/api/channels",
            &json!({"kind": "sms", "name": "Codes", "accountSid": twilio.account_sid(),
                    "authToken": twilio.auth_token(), "from": "+15005550006",
                    "baseUrl": twilio.base_url()}),
        )
        .json()
        .unwrap();
    let made: Value = api
        .post(
            &format!("/api/channels/{}/tokens", channel["id"].as_str().unwrap()),
            &json!({}),
        )
        .json()
        .unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let senders = send_until_killed(&herald, &token, accepted.clone(), text);
    wait_for(
        "some texts acknowledged",
        Duration::from_secs(60),
        || accepted.lock().unwrap().len(),
        |a| *a >= 300,
    );
    herald.crash();
    for s in senders {
        s.join().unwrap();
    }
    herald.spawn();
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    wait_for(
        "every text to be final",
        Duration::from_secs(120),
        || {
            count(
                &conn,
                "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')",
            ) + count(
                &conn,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'send_message' AND status IN ('pending', 'running')",
            )
        },
        |left| *left == 0,
    );
    let at_twilio: Vec<String> = twilio.messages().into_iter().map(|m| m.to).collect();
    let distinct: HashSet<&String> = at_twilio.iter().collect();
    assert_eq!(distinct.len(), at_twilio.len(), "no text went out twice");
    let accepted = accepted.lock().unwrap().clone();
    for to in &accepted {
        let status: String = conn
            .query_row(
                "SELECT status FROM messages WHERE to_address = ?1",
                [to],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(status, "sent", "{to} was acknowledged");
        assert!(
            distinct.contains(to),
            "{to} was acknowledged and reached Twilio"
        );
    }
    // Caught mid-call (no answer given): failed as interrupted, never sent again.
    let interrupted = count(
        &conn,
        "SELECT COUNT(*) FROM messages WHERE status = 'failed' AND reason LIKE '%interrupted%'",
    );
    let failed = count(
        &conn,
        "SELECT COUNT(*) FROM messages WHERE status = 'failed'",
    );
    assert_eq!(failed, interrupted, "only interrupted texts fail");
    assert!(
        interrupted <= 8,
        "at most one per client was in flight ({interrupted})"
    );
    println!(
        "{} acknowledged, {interrupted} interrupted, {} at Twilio",
        accepted.len(),
        at_twilio.len()
    );
}
