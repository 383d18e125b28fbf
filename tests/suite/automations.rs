//! Automations and email end to end: events enroll contacts, steps run from the durable
//! queue, and mail really reaches an SMTP server.

use crate::support;

use std::time::Duration;

use herald::kinds::time::parse_time;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::{Api, wait_for, wait_until};
use support::smtp::{Mode, SmtpSink};
use support::{Herald, InProcessHerald, free_port, get_text};

fn create_template(api: &Api, name: &str, subject: &str, html: &str) -> String {
    let r = api.post(
        "/api/templates",
        &json!({"name": name, "subject": subject, "html": html}),
    );
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn create_automation(api: &Api, def: Value) -> Value {
    let r = api.post("/api/automations", &def);
    let status = r.status();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn send_event(api: &Api, email: &str, event: &str, props: Value) -> Value {
    let r = api.post(
        "/api/events/send",
        &json!({"email": email, "eventName": event, "eventProperties": props}),
    );
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn enrollments(api: &Api, automation: &Value) -> Vec<Value> {
    api.get(&format!(
        "/api/automations/{}/enrollments",
        automation["id"].as_str().unwrap()
    ))["enrollments"]
        .as_array()
        .unwrap()
        .clone()
}

/// Herald in this process on a manual clock, sending its mail to a fresh SMTP sink.
fn with_sink() -> (InProcessHerald, SmtpSink) {
    let sink = SmtpSink::start();
    let herald = InProcessHerald::start_with_smtp(sink.port, |config| {
        config.ratelimit.requests_per_second = 0.0;
        config.webhooks.allow_private_targets = true;
    });
    (herald, sink)
}

fn count(herald: &InProcessHerald, sql: &str) -> i64 {
    herald.query(sql)
}

/// Waits until every message has its final status and no delivery or automation job is
/// left to run: from then on nothing more can be sent, so counting the mail received is
/// counting all the mail there will be.
fn wait_until_settled(herald: &InProcessHerald) {
    wait_until("deliveries to settle", Duration::from_secs(10), || {
        count(
            herald,
            "SELECT COUNT(*) FROM messages WHERE status = 'queued' OR status = 'sending'",
        ) == 0
            && count(
                herald,
                "SELECT COUNT(*) FROM jobs WHERE kind != 'maintenance' AND (status = 'pending' OR status = 'running')",
            ) == 0
    });
}

/// When a listed enrollment wakes, as Unix ms.
fn wake_at_ms(enrollment: &Value) -> i64 {
    parse_time(enrollment["wakeAt"].as_str().expect("a wake time")).unwrap()
}

#[test]
fn welcome_email_is_rendered_and_delivered_with_the_right_headers() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let welcome = create_template(
        &api,
        "Welcome",
        "Welcome, {{contact.firstName}}!",
        "<p>Hi {{firstName}}, your plan is <b>{{event.plan}}</b>. {{missing}}<a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>",
    );
    create_automation(
        &api,
        json!({
            "name": "Onboarding", "status": "active",
            "trigger": {"type": "event", "event": "signUp"},
            "steps": [{"type": "email", "template": welcome}]
        }),
    );
    let r = api.post("/api/events/send", &json!({"email": "Ada@Example.com", "eventName": "signUp", "eventProperties": {"plan": "<pro>"}, "contactProperties": {"firstName": "Ada"}}));
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"enrolled": 1, "exited": 0})
    );
    let got = sink.wait_for(1, Duration::from_secs(10));
    let mail = &got[0];
    assert_eq!(mail.header("Subject").unwrap(), "Welcome, Ada!");
    assert!(mail.to[0].contains("ada@example.com"));
    assert!(mail.header("From").unwrap().contains("hello@acme.test"));
    assert!(mail.header("Message-ID").unwrap().contains("@acme.test>"));
    assert!(mail.header("Date").is_some());
    assert_eq!(
        mail.header("List-Id").as_deref(),
        Some("<workspace-1.acme.test>"),
        "marketing mail names its mailing (RFC 2919)"
    );
    let unsubscribe = mail.header("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.starts_with("<http") && unsubscribe.contains("/unsubscribe/"),
        "{unsubscribe}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .contains("multipart/alternative")
    );
    let body = mail.body();
    assert!(body.contains("text/plain") && body.contains("text/html"));
    assert!(
        body.contains("your plan is <b>&lt;pro&gt;</b>"),
        "HTML-escaped by default: {body}"
    );
    assert!(body.contains("Hi Ada"));
    wait_until_settled(&herald);
    assert_eq!(sink.messages().len(), 1, "sent once");
}

#[test]
fn wait_then_send_and_exit_events_cancel_waiting_enrollments() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let tips = create_template(&api, "Tips", "Tips for {{contact.email}}", "<p>tips</p>");
    let automation = create_automation(
        &api,
        json!({
            "name": "Tips", "status": "active",
            "trigger": {"type": "event", "event": "signUp"},
            "exitOn": ["upgraded"],
            "steps": [{"type": "wait", "duration": "2s"}, {"type": "email", "template": tips}]
        }),
    );
    let started = herald.now_ms();
    for email in ["stay@example.com", "leave@example.com"] {
        assert_eq!(send_event(&api, email, "signUp", json!({}))["enrolled"], 1);
    }
    let waiting = enrollments(&api, &automation);
    assert!(
        waiting
            .iter()
            .all(|e| e["state"] == "waiting" && wake_at_ms(e) == started + 2000),
        "both wait two seconds: {waiting:?}"
    );
    assert_eq!(
        send_event(&api, "leave@example.com", "upgraded", json!({})),
        json!({"enrolled": 0, "exited": 1})
    );
    herald.advance(Duration::from_millis(1999));
    assert!(sink.messages().is_empty(), "not before the wait ends");
    herald.advance(Duration::from_millis(1));
    sink.wait_for(1, Duration::from_secs(10));
    wait_until("completion", Duration::from_secs(5), || {
        enrollments(&api, &automation)
            .iter()
            .any(|e| e["state"] == "completed")
    });
    wait_until_settled(&herald);
    let got = sink.messages();
    assert_eq!(got.len(), 1, "only the contact that stayed gets the email");
    assert!(got[0].to[0].contains("stay@example.com"));
    let states: Vec<(String, String)> = enrollments(&api, &automation)
        .iter()
        .map(|e| {
            (
                e["email"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(states.contains(&("leave@example.com".into(), "exited".into())));
    assert!(states.contains(&("stay@example.com".into(), "completed".into())));
    let listed = api.get(&format!(
        "/api/automations/{}",
        automation["id"].as_str().unwrap()
    ));
    assert_eq!(listed["enrollments"]["exited"], 1);
}

#[test]
fn a_paused_automation_holds_its_waits_and_resume_lets_them_run() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let later = create_template(&api, "Later", "Later for {{contact.email}}", "<p>later</p>");
    let automation = create_automation(
        &api,
        json!({
            "name": "Later", "status": "active",
            "trigger": {"type": "event", "event": "signUp"},
            "steps": [{"type": "wait", "duration": "1s"}, {"type": "email", "template": later}]
        }),
    );
    let id = automation["id"].as_str().unwrap().to_string();
    assert_eq!(
        send_event(&api, "held@example.com", "signUp", json!({}))["enrolled"],
        1
    );
    let wake_at = enrollments(&api, &automation)[0]["wakeAt"].clone();
    assert!(
        wake_at.is_string(),
        "a waiting enrollment shows when it wakes"
    );
    assert_eq!(
        api.post(&format!("/api/automations/{id}/pause"), &json!({}))
            .status(),
        200
    );
    // Well past the wait, the timer takes the enrollment up and holds it, wake time
    // kept, instead of running it: nothing goes out while paused.
    herald.advance(Duration::from_millis(1800));
    wait_until(
        "the due enrollment to be held",
        Duration::from_secs(10),
        || {
            count(
                &herald,
                "SELECT COUNT(*) FROM enrollments WHERE state = 'waiting' AND wake_at IS NULL AND held_wake_at IS NOT NULL",
            ) == 1
        },
    );
    assert!(sink.messages().is_empty(), "no mail while paused");
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM messages"), 0);
    let held = enrollments(&api, &automation);
    assert_eq!(held[0]["state"], "waiting");
    assert_eq!(held[0]["wakeAt"], wake_at);
    assert_eq!(
        api.post(&format!("/api/automations/{id}/resume"), &json!({}))
            .status(),
        200
    );
    let got = sink.wait_for(1, Duration::from_secs(5));
    assert!(got[0].to[0].contains("held@example.com"));
    wait_until("completion", Duration::from_secs(5), || {
        enrollments(&api, &automation)[0]["state"] == "completed"
    });
    wait_until_settled(&herald);
    assert_eq!(sink.messages().len(), 1, "sent once");
}

#[test]
fn frequency_modes_enroll_once_or_every_time() {
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let once = create_automation(
        &api,
        json!({"name": "Once", "status": "active", "trigger": {"type": "event", "event": "visit"}, "frequency": "once_per_contact", "steps": []}),
    );
    let every = create_automation(
        &api,
        json!({"name": "Every", "status": "active", "trigger": {"type": "event", "event": "visit"}, "steps": []}),
    );
    let first = send_event(&api, "a@example.com", "visit", json!({}));
    assert_eq!(first["enrolled"], 2);
    let second = send_event(&api, "a@example.com", "visit", json!({}));
    assert_eq!(
        second["enrolled"], 1,
        "once_per_contact skipped the second time"
    );
    send_event(&api, "a@example.com", "visit", json!({}));
    assert_eq!(enrollments(&api, &once).len(), 1);
    assert_eq!(enrollments(&api, &every).len(), 3);
}

#[test]
fn filters_by_tag_and_property_count_the_filtered() {
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    create_automation(
        &api,
        json!({
            "name": "VIP pro", "status": "active",
            "trigger": {"type": "event", "event": "purchase"},
            "filters": {"all": [{"field": "contact.tags", "op": "contains", "value": "vip"}, {"any": [{"field": "event.plan", "op": "eq", "value": "pro"}, {"field": "event.amount", "op": "gt", "value": 100}]}]},
            "steps": []
        }),
    );
    api.post(
        "/api/contacts",
        &json!({"email": "vip@example.com", "tags": ["vip"]}),
    );
    api.post("/api/contacts", &json!({"email": "plain@example.com"}));
    assert_eq!(
        send_event(&api, "vip@example.com", "purchase", json!({"plan": "pro"}))["enrolled"],
        1
    );
    assert_eq!(
        send_event(
            &api,
            "vip@example.com",
            "purchase",
            json!({"plan": "basic", "amount": 250})
        )["enrolled"],
        1
    );
    assert_eq!(
        send_event(
            &api,
            "vip@example.com",
            "purchase",
            json!({"plan": "basic", "amount": 5})
        )["enrolled"],
        0
    );
    assert_eq!(
        send_event(
            &api,
            "plain@example.com",
            "purchase",
            json!({"plan": "pro"})
        )["enrolled"],
        0
    );
    let t: Value = api.post("/api/v1/events/trigger", &json!({"event_name": "purchase", "user_info": {"email": "plain@example.com"}, "event_data": {"plan": "pro"}})).json().unwrap();
    assert_eq!(t["summary"]["filtered"], 1, "{t}");
    assert_eq!(t["summary"]["total_contacts"], 1);
}

#[test]
fn branches_go_both_ways() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let a = create_template(&api, "A", "then-branch", "<p>a</p>");
    let b = create_template(&api, "B", "else-branch", "<p>b</p>");
    create_automation(
        &api,
        json!({
            "name": "Branchy", "status": "active",
            "trigger": {"type": "event", "event": "go"},
            "steps": [{"type": "branch", "if": {"field": "event.premium", "op": "eq", "value": true}, "then": [{"type": "email", "template": a}], "else": [{"type": "update_contact", "addTags": ["free"]}, {"type": "email", "template": b}]}]
        }),
    );
    send_event(&api, "p@example.com", "go", json!({"premium": true}));
    send_event(&api, "f@example.com", "go", json!({"premium": false}));
    let got = sink.wait_for(2, Duration::from_secs(10));
    let subject_for = |who: &str| {
        got.iter()
            .find(|m| m.to[0].contains(who))
            .unwrap()
            .header("Subject")
            .unwrap()
    };
    assert_eq!(subject_for("p@example.com"), "then-branch");
    assert_eq!(subject_for("f@example.com"), "else-branch");
    let contacts = api.get("/api/contacts?search=f@example.com");
    assert_eq!(contacts["contacts"][0]["tags"], json!(["free"]));
}

#[test]
fn smtp_down_then_up_sends_exactly_once() {
    let port = free_port();
    let herald = InProcessHerald::start_with_smtp(port, |config| config.smtp.timeout_secs = 2);
    let api = Api::new(&herald, "Acme");
    let t = create_template(&api, "Hello", "hello", "<p>hi</p>");
    create_automation(
        &api,
        json!({"name": "Hi", "status": "active", "trigger": {"type": "event", "event": "hi"}, "steps": [{"type": "email", "template": t}]}),
    );
    send_event(&api, "down@example.com", "hi", json!({}));
    let retry_at: i64 = wait_for(
        "a failed attempt, queued for a retry",
        Duration::from_secs(10),
        || {
            let failed = count(
                &herald,
                "SELECT COUNT(*) FROM messages WHERE status = 'queued' AND reason IS NOT NULL",
            );
            let retry = count(
                &herald,
                "SELECT COALESCE(MAX(due_at), 0) FROM jobs WHERE kind = 'send_message' AND status = 'pending' AND attempts > 0",
            );
            if failed == 1 { retry } else { 0 }
        },
        |retry| *retry > 0,
    );
    assert!(retry_at > herald.now_ms(), "the retry waits its backoff");
    let sink = SmtpSink::start_on(port);
    herald.advance(Duration::from_millis((retry_at - herald.now_ms()) as u64));
    sink.wait_for(1, Duration::from_secs(20));
    wait_until_settled(&herald);
    assert_eq!(
        sink.messages().len(),
        1,
        "delivered once after the server came back"
    );
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let (status, attempts): (String, i64) = conn
        .query_row("SELECT status, attempts FROM messages", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(status, "sent");
    assert!(attempts >= 2);
}

#[test]
fn a_550_fails_the_message_and_suppresses_the_address() {
    let (herald, sink) = with_sink();
    sink.set_mode(Mode::Reject);
    let api = Api::new(&herald, "Acme");
    let t = create_template(&api, "Hello", "hello", "<p>hi</p>");
    create_automation(
        &api,
        json!({"name": "Hi", "status": "active", "trigger": {"type": "event", "event": "hi"}, "steps": [{"type": "email", "template": t}]}),
    );
    send_event(&api, "nobody@example.com", "hi", json!({}));
    let db = herald.db_path();
    let status = |n: i64| -> Option<(String, Option<String>)> {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(
            "SELECT status, reason FROM messages ORDER BY id LIMIT 1 OFFSET ?1",
            [n],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    };
    wait_until("failure", Duration::from_secs(10), || {
        status(0).is_some_and(|(s, _)| s == "failed")
    });
    assert!(status(0).unwrap().1.unwrap().contains("550"));
    sink.set_mode(Mode::Accept);
    send_event(&api, "nobody@example.com", "hi", json!({}));
    wait_until("skip", Duration::from_secs(10), || {
        status(1).is_some_and(|(s, _)| s == "skipped")
    });
    assert!(status(1).unwrap().1.unwrap().contains("suppressed"));
    assert!(
        sink.messages().is_empty(),
        "never delivered, never shown as sent"
    );
}

#[test]
fn one_click_unsubscribe_stops_further_mail() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let t = create_template(&api, "News", "news", "<p>news</p>");
    create_automation(
        &api,
        json!({"name": "News", "status": "active", "trigger": {"type": "event", "event": "news"}, "steps": [{"type": "email", "template": t}]}),
    );
    send_event(&api, "reader@example.com", "news", json!({}));
    let mail = sink.wait_for(1, Duration::from_secs(10)).remove(0);
    let url = mail
        .header("List-Unsubscribe")
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let page = Client::new().get(&url).send().unwrap();
    assert_eq!(page.status(), 200, "GET shows a confirmation");
    let contact = &api.get("/api/contacts?search=reader")["contacts"][0];
    assert_eq!(contact["subscribed"], true, "GET alone changes nothing");
    let done = Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(done.status(), 200, "one-click POST works without a login");
    assert_eq!(
        api.get("/api/contacts?search=reader")["contacts"][0]["subscribed"],
        false
    );
    let forged = Client::new()
        .post(url.replace("/unsubscribe/", "/unsubscribe/x"))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 410);
    send_event(&api, "reader@example.com", "news", json!({}));
    wait_until(
        "the second email to be skipped",
        Duration::from_secs(10),
        || {
            count(
                &herald,
                "SELECT COUNT(*) FROM messages WHERE status = 'skipped'",
            ) == 1
        },
    );
    wait_until_settled(&herald);
    assert_eq!(sink.messages().len(), 1, "no more mail after unsubscribing");
}

#[test]
fn invalid_definitions_name_the_bad_path() {
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let t = create_template(&api, "T", "s", "<p>x</p>");
    let check = |def: Value, path: &str| {
        let r = api.post("/api/automations", &def);
        assert_eq!(r.status(), 400, "{def}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["details"]["path"], path, "{body}");
        assert!(body["message"].as_str().unwrap().contains(path));
    };
    let base = |steps: Value| json!({"name": "x", "trigger": {"type": "event", "event": "e"}, "steps": steps});
    check(
        base(json!([{"type": "email", "template": "nope"}])),
        "steps[0].template",
    );
    check(
        base(json!([{"type": "wait", "duration": "soon"}])),
        "steps[0].duration",
    );
    check(
        base(json!([{"type": "email", "template": t, "channel": "pigeon"}])),
        "steps[0].channel",
    );
    check(
        base(
            json!([{"type": "wait", "duration": "1d"}, {"type": "branch", "if": {"field": "contact.x", "op": "exists"}, "then": [{"type": "email", "template": "gone"}]}]),
        ),
        "steps[1].then[0].template",
    );
    check(base(json!([{"type": "teleport"}])), "steps[0].type");
    check(
        json!({"name": "x", "trigger": {"type": "event"}}),
        "trigger.event",
    );
    let mut deep = json!([{"type": "exit"}]);
    for _ in 0..17 {
        deep = json!([{"type": "branch", "if": {"field": "contact.email", "op": "exists"}, "then": deep}]);
    }
    let r = api.post("/api/automations", &base(deep));
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("deeper than 16")
    );

    let bad = api.post(
        "/api/templates",
        &json!({"name": "Broken", "subject": "x", "html": "{{#if}}oops"}),
    );
    assert_eq!(bad.status(), 400);
    assert!(
        bad.json::<Value>().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("html")
    );
    create_automation(
        &api,
        json!({"name": "Uses T", "trigger": {"type": "event", "event": "e"}, "steps": [{"type": "email", "template": t}]}),
    );
    let del = api.delete(&format!("/api/templates/{t}"));
    assert_eq!(del.status(), 409, "a template in use cannot be deleted");
}

#[test]
fn sync_trigger_and_direct_workflow_trigger_report_results() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let t = create_template(&api, "T", "Hi {{variables.name}}", "<p>{{name}}</p>");
    let a = create_automation(
        &api,
        json!({"name": "Direct", "status": "active", "trigger": {"type": "event", "event": "never"}, "steps": [{"type": "email", "template": t}]}),
    );
    let r = api.post("/api/v1/workflows/trigger", &json!({"workflow_id": a["id"], "user_info": {"email": "d@example.com"}, "variables": {"name": "Dee"}}));
    assert_eq!(r.status(), 201);
    let started: Value = r.json().unwrap();
    let mail = sink.wait_for(1, Duration::from_secs(10)).remove(0);
    assert_eq!(mail.header("Subject").unwrap(), "Hi Dee");
    let trigger_id = started["trigger_id"].as_str().unwrap();
    wait_until("sent count", Duration::from_secs(5), || {
        api.get(&format!("/api/v1/triggers/{trigger_id}"))["summary"]["sent"] == 1
    });
    let detail = api.get(&format!("/api/v1/triggers/{trigger_id}/workflow"));
    assert_eq!(detail["workflows"][0]["workflow_id"], a["id"]);
    assert_eq!(
        detail["workflows"][0]["enrollments"][0]["messages"][0]["status"],
        "sent"
    );
    assert_eq!(
        api.post(
            "/api/v1/workflows/trigger",
            &json!({"workflow_id": "nope", "user_info": {"email": "d@example.com"}})
        )
        .status(),
        404
    );
}

#[test]
fn webhook_steps_post_a_signed_payload() {
    use std::io::Write;
    let (listener, port) = support::receiver::loopback_listener();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let received = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let text = support::receiver::read_request(&mut stream);
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap();
        text
    });
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    create_automation(
        &api,
        json!({"name": "Sync", "status": "active", "trigger": {"type": "event", "event": "paid"}, "steps": [{"type": "webhook", "url": hook, "method": "POST"}]}),
    );
    send_event(&api, "w@example.com", "paid", json!({"amount": 5}));
    let request = received.join().unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(request.starts_with("POST /hook"));
    assert!(lower.contains("webhook-id: msg_"));
    assert!(lower.contains("webhook-timestamp: "));
    assert!(lower.contains("webhook-signature: v1,"));
    let body: Value = serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["event"], "paid");
    assert_eq!(body["payload"]["event"]["amount"], 5);
    assert_eq!(body["payload"]["contact"]["email"], "w@example.com");
    assert!(body["timestamp"].is_string());
}

#[test]
fn automations_and_templates_never_cross_workspaces() {
    let (herald, _sink) = with_sink();
    let a = Api::new(&herald, "Acme");
    let b = Api::new(&herald, "Globex");
    let t = create_template(&a, "A only", "s", "<p>x</p>");
    let auto = create_automation(
        &a,
        json!({"name": "A flow", "status": "active", "trigger": {"type": "event", "event": "go"}, "steps": [{"type": "email", "template": t}]}),
    );
    assert_eq!(b.get("/api/automations")["automations"], json!([]));
    assert_eq!(b.get("/api/templates")["templates"], json!([]));
    let id = auto["id"].as_str().unwrap();
    for path in [
        format!("/api/automations/{id}"),
        format!("/api/templates/{t}"),
        format!("/api/automations/{id}/enrollments"),
    ] {
        let r = b.get_response(&path);
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = b.post(&format!("/api/automations/{id}/pause"), &json!({}));
    assert_eq!(r.status(), 404);
    let r = b.post("/api/automations", &json!({"name": "steal", "trigger": {"type": "event", "event": "go"}, "steps": [{"type": "email", "template": t}]}));
    assert_eq!(r.status(), 400, "B cannot use A's template");
    assert_eq!(
        send_event(&b, "x@example.com", "go", json!({}))["enrolled"],
        0,
        "A's automation ignores B's events"
    );
}

#[test]
fn without_smtp_mail_goes_to_the_outbox_and_is_listed() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    let t = create_template(&api, "Hello", "Hello {{contact.email}}", "<p>hi</p>");
    create_automation(
        &api,
        json!({"name": "Hi", "status": "active", "trigger": {"type": "event", "event": "hi"}, "steps": [{"type": "email", "template": t}]}),
    );
    send_event(&api, "outbox@example.com", "hi", json!({}));
    let outbox = herald.data_dir().join("outbox");
    wait_until("an .eml file", Duration::from_secs(10), || {
        std::fs::read_dir(&outbox)
            .map(|d| d.count() == 1)
            .unwrap_or(false)
    });
    let file = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let eml = std::fs::read_to_string(file).unwrap();
    assert!(eml.contains("Subject: Hello outbox@example.com"));
    assert!(eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    wait_until("sent status", Duration::from_secs(5), || {
        let page = get_text(&herald, &browser, "/outbox?status=sent");
        page.contains("Hello outbox@example.com")
    });
    let page = get_text(&herald, &browser, "/outbox");
    assert!(page.contains("No SMTP server is configured"));
}

fn counts(api: &Api, automation: &Value) -> Value {
    api.get(&format!(
        "/api/automations/{}",
        automation["id"].as_str().unwrap()
    ))["enrollments"]
        .clone()
}

fn ids(enrollments: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = enrollments
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Enrollments parked at a first wait (written packed, one row per event) are counted,
/// listed and limited by frequency like any other, and keep their ids when they wake.
#[test]
fn enrollments_parked_at_a_first_wait_count_list_and_keep_their_ids() {
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let wait_then_tag = |name: &str, frequency: &str| {
        create_automation(
            &api,
            json!({
                "name": name, "status": "active", "frequency": frequency,
                "trigger": {"type": "event", "event": "signUp"},
                "steps": [{"type": "wait", "duration": "1s"}, {"type": "update_contact", "addTags": [name]}]
            }),
        )
    };
    let start = herald.now_ms();
    let every = wait_then_tag("every", "every_time");
    let once = wait_then_tag("once", "once_per_contact");
    let later = create_automation(
        &api,
        json!({
            "name": "later", "status": "active",
            "trigger": {"type": "event", "event": "signUp"},
            "steps": [{"type": "wait", "duration": "1d"}]
        }),
    );
    assert_eq!(
        send_event(&api, "a@example.com", "signUp", json!({}))["enrolled"],
        3
    );
    assert_eq!(
        send_event(&api, "b@example.com", "signUp", json!({}))["enrolled"],
        3
    );
    assert_eq!(
        send_event(&api, "a@example.com", "signUp", json!({}))["enrolled"],
        2,
        "once_per_contact sees the parked enrollment"
    );
    assert_eq!(counts(&api, &every)["waiting"], 3);
    assert_eq!(counts(&api, &once)["waiting"], 2);
    assert_eq!(counts(&api, &later)["waiting"], 3);
    let parked = enrollments(&api, &every);
    assert_eq!(parked.len(), 3);
    let wakes_in_a_second = |e: &Value| e["state"] == "waiting" && wake_at_ms(e) == start + 1000;
    assert!(parked.iter().all(wakes_in_a_second), "{parked:?}");
    let all: Vec<String> = [&every, &once, &later]
        .iter()
        .flat_map(|a| ids(&enrollments(&api, a)))
        .collect();
    let distinct: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        8,
        "every enrollment has its own id: {all:?}"
    );

    herald.advance(Duration::from_secs(1));
    wait_until("the 1 s waits to complete", Duration::from_secs(10), || {
        counts(&api, &every)["completed"] == 3 && counts(&api, &once)["completed"] == 2
    });
    let woken = enrollments(&api, &every);
    assert!(woken.iter().all(|e| e["state"] == "completed"), "{woken:?}");
    assert_eq!(ids(&woken), ids(&parked), "ids survive waking");
    assert_eq!(counts(&api, &every)["waiting"], 0);
    assert_eq!(
        counts(&api, &later)["waiting"],
        3,
        "the day-long waits still wait"
    );
    let contact = api.get(&format!(
        "/api/contacts/{}",
        woken[0]["contactId"].as_str().unwrap()
    ));
    assert!(
        contact["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("every"))
    );
}

/// Deleting a contact takes its parked enrollments along, counts included; changing an
/// automation's trigger keeps its parked enrollments listed and counted.
#[test]
fn parked_enrollments_follow_contact_deletion_and_trigger_changes() {
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let def = |event: &str| {
        json!({
            "name": "Drip", "status": "active",
            "trigger": {"type": "event", "event": event},
            "steps": [{"type": "wait", "duration": "2d"}]
        })
    };
    let drip = create_automation(&api, def("signUp"));
    send_event(&api, "gone@example.com", "signUp", json!({}));
    send_event(&api, "kept@example.com", "signUp", json!({}));
    assert_eq!(counts(&api, &drip)["waiting"], 2);
    let listed = enrollments(&api, &drip);
    let gone = listed
        .iter()
        .find(|e| e["email"] == "gone@example.com")
        .unwrap();
    let deleted = api.delete(&format!(
        "/api/contacts/{}",
        gone["contactId"].as_str().unwrap()
    ));
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(counts(&api, &drip)["waiting"], 1);
    let kept = enrollments(&api, &drip);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["email"], "kept@example.com");

    let id = drip["id"].as_str().unwrap();
    let r = api.put(&format!("/api/automations/{id}"), &def("registered"));
    assert_eq!(r.status(), 200);
    let after = enrollments(&api, &drip);
    assert_eq!(
        ids(&after),
        ids(&kept),
        "still listed under the new trigger"
    );
    assert_eq!(after[0]["state"], "waiting");
    assert_eq!(after[0]["wakeAt"], kept[0]["wakeAt"]);
    assert_eq!(counts(&api, &drip)["waiting"], 1);
    send_event(&api, "new@example.com", "registered", json!({}));
    assert_eq!(counts(&api, &drip)["waiting"], 2);
    assert_eq!(enrollments(&api, &drip).len(), 2);
}
