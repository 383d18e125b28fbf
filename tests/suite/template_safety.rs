//! Hostile templates never take Herald down: they are refused when saved, fail their own
//! preview or message with the reason when the data makes them too big, and the server
//! keeps answering throughout.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Herald;
use support::api::{Api, wait_until};

fn healthy(herald: &Herald) {
    let r = reqwest::blocking::get(herald.url("/healthz")).unwrap();
    assert_eq!(r.status(), 200, "the server stays healthy");
}

/// A small deterministic generator, so a failure names a template that can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() % options.len() as u64) as usize]
    }
}

/// A random template built from the constructs that hurt: loops nested deep, recursive
/// and plain partials, decorators, sub-expressions, `log`, and broken syntax.
fn hostile(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return rng
            .pick(&[
                "x",
                "{{this}}",
                "{{contact.email}}",
                "{{> a}}",
                "{{log \"boom\"}}",
                "{{lookup this @key}}",
                "{{eq (not (not (not (not 1)))) 1}}",
                "{{{{raw}}}}{{x}}{{{{/raw}}}}",
                "{{#if}}",
                "}}{{",
            ])
            .to_string();
    }
    let inner = hostile(rng, depth - 1);
    let wrap = rng.pick(&[
        "{{#each @root.contact}}{}{{/each}}",
        "{{#each @root.event.items}}{}{{/each}}",
        "{{#each this}}{}{{else}}{}{{/each}}",
        "{{#with contact}}{}{{/with}}",
        "{{#if contact.email}}{}{{else}}{}{{/if}}",
        "{{#*inline \"a\"}}{}{{> a}}{{/inline}}{{> a}}",
        "{{#> layout}}{}{{/layout}}",
        "{}{}{}",
    ]);
    wrap.replace("{}", &inner)
}

#[test]
fn generated_hostile_templates_are_refused_or_bounded_and_the_server_stays_up() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Fuzz");
    let items: Vec<Value> = (0..200).map(|i| json!(format!("item-{i}"))).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut saved, mut refused) = (0, 0);
    for round in 0..150 {
        let depth = (rng.next() % 10) as u32;
        let html = hostile(&mut rng, depth);
        let created = api.post(
            "/api/templates",
            &json!({"name": format!("t{round}"), "subject": "s", "html": html}),
        );
        let status = created.status().as_u16();
        assert!(
            status == 201 || status == 400,
            "save answered {status} for {html}"
        );
        if status == 400 {
            refused += 1;
            continue;
        }
        saved += 1;
        let id = created.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let preview = api.post(
            &format!("/api/templates/{id}/preview"),
            &json!({"event": {"items": items}}),
        );
        let status = preview.status().as_u16();
        assert!(
            status == 200 || status == 400,
            "preview answered {status} for {html}"
        );
        if status == 200 {
            let body: Value = preview.json().unwrap();
            assert!(body["html"].as_str().unwrap().len() <= 1024 * 1024);
        }
        if round % 10 == 0 {
            healthy(&herald);
        }
    }
    assert!(saved > 5 && refused > 5, "saved {saved}, refused {refused}");
    healthy(&herald);
}

#[test]
fn the_reported_attacks_are_refused_with_the_reason() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Attacks");
    let cases = [
        (
            "{{#*inline \"a\"}}x{{> a}}{{/inline}}{{> a}}",
            "not available",
        ),
        ("{{log \"pwned\"}}", "unknown helper 'log'"),
        (
            &("{{#each @root.contact}}".repeat(9) + &"{{/each}}".repeat(9)),
            "too much work",
        ),
    ];
    for (html, reason) in cases {
        let r = api.post(
            "/api/templates",
            &json!({"name": "bad", "subject": "s", "html": html}),
        );
        assert_eq!(r.status(), 400, "{html}");
        let body: Value = r.json().unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{html}: {body}"
        );
    }
    // Loops that are fine for the sample contact but explode for a real event's data.
    let loops = "{{#each event.items}}{{#each @root.event.items}}{{#each @root.event.items}}{{this}}{{/each}}{{/each}}{{/each}}";
    let r = api.post(
        "/api/templates",
        &json!({"name": "loops", "subject": "s", "html": loops}),
    );
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let items: Vec<Value> = (0..200).map(|i| json!(format!("item-{i}"))).collect();
    let preview = api.post(
        &format!("/api/templates/{id}/preview"),
        &json!({"event": {"items": items}}),
    );
    assert_eq!(preview.status(), 400);
    let body: Value = preview.json().unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("too much work") || message.contains("larger than"),
        "{body}"
    );
    healthy(&herald);
}

/// A template saved before the limits existed (written straight into the database, as an
/// older version could have stored it) fails only its own message, on every send.
#[test]
fn a_stored_recursive_template_fails_its_message_not_the_process() {
    let mut herald = Herald::start();
    let api = Api::new(&herald, "Legacy");
    let id = {
        let r = api.post(
            "/api/templates",
            &json!({"name": "legacy", "subject": "Hi", "html": "<p>fine</p>"}),
        );
        assert_eq!(r.status(), 201);
        r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    conn.execute(
        "UPDATE templates SET html = ?1 WHERE uid = ?2",
        rusqlite::params!["{{#*inline \"a\"}}x{{> a}}{{/inline}}{{> a}}", id],
    )
    .unwrap();
    let r = api.post(
        "/api/automations",
        &json!({"name": "uses legacy", "status": "active",
                "trigger": {"type": "event", "event": "signUp"},
                "steps": [{"type": "email", "template": id}]}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    for n in 0..3 {
        let r = api.post(
            "/api/events/send",
            &json!({"email": format!("p{n}@example.com"), "eventName": "signUp"}),
        );
        assert_eq!(r.status(), 200);
    }
    let failed = || -> Vec<String> {
        let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT reason FROM messages WHERE status = 'failed'")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    wait_until("three failed messages", Duration::from_secs(10), || {
        failed().len() == 3
    });
    assert!(
        failed()
            .iter()
            .all(|r| r.contains("failed to render") && r.contains("not available")),
        "{:?}",
        failed()
    );
    healthy(&herald);
    // And after a restart the queue keeps working.
    herald.terminate();
    herald.spawn();
    healthy(&herald);
    drop(conn);
}
