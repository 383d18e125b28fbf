//! Signups with consent (seed 000's `POST /api/contacts/subscribe`), double opt-in through
//! a real SMTP server and the emailed link, and the preferences page a marketing email's
//! footer leads to. Herald runs in this process on a clock the test moves.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::InProcessHerald;
use support::api::{Api, status_and_json, wait_until};
use support::smtp::{Received, SmtpSink};

fn with_sink() -> (InProcessHerald, SmtpSink) {
    let sink = SmtpSink::start();
    let herald = InProcessHerald::start_with_smtp(sink.port, |config| {
        config.ratelimit.requests_per_second = 0.0;
    });
    (herald, sink)
}

fn count(herald: &InProcessHerald, sql: &str) -> i64 {
    herald.query(sql)
}

fn text(herald: &InProcessHerald, sql: &str) -> String {
    herald.query(sql)
}

fn create_list(api: &Api, name: &str, double: bool) -> String {
    let (status, list) =
        status_and_json(api.post("/api/lists", &json!({"name": name, "doubleOptIn": double})));
    assert_eq!(status, 201, "{list}");
    list["id"].as_str().unwrap().to_string()
}

fn subscribe(api: &Api, email: &str, lists: &[&str]) -> Value {
    let r = api
        .request("POST", "/api/contacts/subscribe")
        .header("User-Agent", "SignupTest/1.0")
        .json(&json!({
            "email": email,
            "firstName": "Ada",
            "listIds": lists,
            "consent": {"text": "Send me the monthly newsletter", "version": "2026-01"},
        }))
        .send()
        .unwrap();
    let (status, body) = status_and_json(r);
    assert_eq!(status, 200, "{body}");
    body
}

fn membership(herald: &InProcessHerald, email: &str) -> String {
    text(
        herald,
        &format!(
            "SELECT COALESCE((SELECT m.status FROM list_members m JOIN contacts c ON c.id = m.contact_id
              WHERE c.email = '{email}'), 'none')"
        ),
    )
}

fn subscribed(herald: &InProcessHerald, email: &str) -> i64 {
    count(
        herald,
        &format!("SELECT subscribed FROM contacts WHERE email = '{email}'"),
    )
}

/// The path of the first link in `mail` that starts with `prefix` (`/confirm/`, say): the
/// test follows it on the server it runs, whatever base URL the mail was written for.
fn link_path(mail: &Received, prefix: &str) -> String {
    let body = mail.body();
    let at = body
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {body}"));
    body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
        .collect()
}

fn wait_mail(sink: &SmtpSink, n: usize) -> Vec<Received> {
    sink.wait_for(n, Duration::from_secs(10))
}

fn create_welcome_automation(api: &Api, list: &str) {
    let (status, template) = status_and_json(api.post(
        "/api/templates",
        &json!({"name": "Welcome", "subject": "Welcome aboard", "html": "<p>Hello {{contact.firstName}}</p>"}),
    ));
    assert_eq!(status, 201, "{template}");
    let (status, automation) = status_and_json(api.post(
        "/api/automations",
        &json!({"name": "Welcome", "status": "active",
                "trigger": {"type": "list_joined", "list": list},
                "steps": [{"type": "email", "template": template["id"]}]}),
    ));
    assert_eq!(status, 201, "{automation}");
}

#[test]
fn double_opt_in_confirms_only_when_the_link_is_posted() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let list = create_list(&api, "Newsletter", true);
    create_welcome_automation(&api, &list);

    let answer = subscribe(&api, "ada@example.com", &[&list]);
    assert_eq!(answer["success"], true);
    assert_eq!(answer["requiresConfirmation"], true);
    let contact_id = answer["contactId"].as_str().unwrap();
    assert!(!contact_id.is_empty());
    assert_eq!(
        answer.as_object().unwrap().len(),
        3,
        "the seed's three fields: {answer}"
    );

    // The consent is kept as it was shown, with where it came from.
    assert_eq!(
        text(
            &herald,
            "SELECT text || '|' || version || '|' || source || '|' || user_agent || '|' || (ip IS NOT NULL) FROM consents"
        ),
        "Send me the monthly newsletter|2026-01|api|SignupTest/1.0|1"
    );
    assert_eq!(membership(&herald, "ada@example.com"), "unconfirmed");
    assert_eq!(
        subscribed(&herald, "ada@example.com"),
        0,
        "no marketing mail before confirming"
    );

    let mails = wait_mail(&sink, 1);
    assert_eq!(mails[0].to, vec!["<ada@example.com>".to_string()]);
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("Please confirm your subscription")
    );
    assert!(mails[0].body().contains("Newsletter"), "names the list");
    // The confirmation goes through the outbox: the mail server has it before Herald
    // records the server's answer, so wait for that record.
    wait_until(
        "the confirmation recorded as sent",
        Duration::from_secs(10),
        || {
            count(
                &herald,
                "SELECT COUNT(*) FROM messages WHERE kind = 'transactional' AND status = 'sent'",
            ) == 1
        },
    );
    let confirm = link_path(&mails[0], "/confirm/");

    // A link scanner's GET shows the button and changes nothing.
    let page = reqwest::blocking::get(herald.url(&confirm)).unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("Yes, subscribe me") && html.contains("<form"));
    assert_eq!(membership(&herald, "ada@example.com"), "unconfirmed");
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM events WHERE name = 'list_joined'"
        ),
        0
    );

    let client = reqwest::blocking::Client::new();
    let done = client.post(herald.url(&confirm)).send().unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().unwrap().contains("confirmed"));
    assert_eq!(membership(&herald, "ada@example.com"), "confirmed");
    assert_eq!(subscribed(&herald, "ada@example.com"), 1);
    assert_eq!(
        text(
            &herald,
            "SELECT group_concat(status || ':' || source, ',') FROM (SELECT * FROM list_member_changes ORDER BY id)"
        ),
        "unconfirmed:api,confirmed:link",
        "each change with its source"
    );

    // The confirmed join fires the list_joined automation, whose marketing mail carries
    // the preferences and unsubscribe links.
    let mails = wait_mail(&sink, 2);
    let welcome = &mails[1];
    assert_eq!(welcome.header("Subject").as_deref(), Some("Welcome aboard"));
    assert!(welcome.header("List-Unsubscribe").is_some());
    let body = welcome.body();
    assert!(body.contains("Manage your email preferences"), "{body}");
    let preferences = link_path(welcome, "/preferences/");

    // Posting the link again is harmless.
    let again = client.post(herald.url(&confirm)).send().unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().unwrap().contains("already confirmed"));
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM events WHERE name = 'list_joined'"
        ),
        1
    );

    // The preferences page shows the list checked; saving without it leaves the list.
    let page = client.get(herald.url(&preferences)).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("Newsletter") && html.contains("checked"),
        "{html}"
    );
    let saved = client
        .post(herald.url(&preferences))
        .form(&[("action", "save")])
        .send()
        .unwrap();
    assert_eq!(saved.status(), 200);
    assert_eq!(membership(&herald, "ada@example.com"), "unsubscribed");
    assert_eq!(
        subscribed(&herald, "ada@example.com"),
        1,
        "leaving a list is not leaving everything"
    );
    let saved = client
        .post(herald.url(&preferences))
        .form(&[("action", "save"), ("list", list.as_str())])
        .send()
        .unwrap();
    assert_eq!(saved.status(), 200);
    assert_eq!(membership(&herald, "ada@example.com"), "confirmed");

    let all = client
        .post(herald.url(&preferences))
        .form(&[("action", "unsubscribe_all")])
        .send()
        .unwrap();
    assert_eq!(all.status(), 200);
    assert!(all.text().unwrap().contains("unsubscribed from all"));
    assert_eq!(subscribed(&herald, "ada@example.com"), 0);

    let forged = client
        .get(herald.url(&format!("{preferences}x")))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 410, "a tampered link shows nothing");
}

#[test]
fn subscribing_again_is_idempotent_resends_hourly_and_links_expire() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let list = create_list(&api, "Newsletter", true);

    let first = subscribe(&api, "bo@example.com", &[&list]);
    let second = subscribe(&api, "bo@example.com", &[&list]);
    assert_eq!(first["contactId"], second["contactId"]);
    assert_eq!(second["requiresConfirmation"], true);
    let mails = wait_mail(&sink, 1);
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM list_members"), 1);
    assert_eq!(
        count(&herald, "SELECT COUNT(*) FROM messages"),
        1,
        "no second confirmation within the hour"
    );
    assert_eq!(
        count(&herald, "SELECT COUNT(*) FROM consents"),
        2,
        "every consent given is recorded"
    );

    herald.advance(Duration::from_secs(61 * 60));
    subscribe(&api, "bo@example.com", &[&list]);
    wait_mail(&sink, 2);
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM messages"), 2);

    let old = link_path(&mails[0], "/confirm/");
    herald.advance(Duration::from_secs(8 * 24 * 3600));
    let expired = reqwest::blocking::get(herald.url(&old)).unwrap();
    assert_eq!(expired.status(), 410);
    assert!(expired.text().unwrap().contains("expired"));
    let posted = reqwest::blocking::Client::new()
        .post(herald.url(&old))
        .send()
        .unwrap();
    assert_eq!(posted.status(), 410);
    assert_eq!(membership(&herald, "bo@example.com"), "unconfirmed");
}

#[test]
fn single_opt_in_joins_at_once_and_an_unconfirmed_signup_gets_no_marketing_mail() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let single = create_list(&api, "Updates", false);
    let double = create_list(&api, "Newsletter", true);
    let (_, template) = status_and_json(api.post(
        "/api/templates",
        &json!({"name": "Promo", "subject": "Promo", "html": "<p>Buy</p>"}),
    ));
    let (status, _) = status_and_json(api.post(
        "/api/automations",
        &json!({"name": "Promo", "status": "active",
                "trigger": {"type": "event", "event": "promo"},
                "steps": [{"type": "email", "template": template["id"]}]}),
    ));
    assert_eq!(status, 201);

    let joined = subscribe(&api, "single@example.com", &[&single]);
    assert_eq!(joined["requiresConfirmation"], false);
    assert_eq!(membership(&herald, "single@example.com"), "confirmed");
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM events WHERE name = 'list_joined'"
        ),
        1
    );

    subscribe(&api, "waiting@example.com", &[&double]);
    for email in ["single@example.com", "waiting@example.com"] {
        let r = api.post(
            "/api/events/send",
            &json!({"email": email, "eventName": "promo"}),
        );
        assert_eq!(r.status(), 200);
    }
    wait_until(
        "both promo messages to settle",
        Duration::from_secs(10),
        || {
            count(
                &herald,
                "SELECT COUNT(*) FROM messages WHERE kind = 'marketing' AND status IN ('sent', 'skipped')",
            ) == 2
        },
    );
    assert_eq!(
        text(
            &herald,
            "SELECT to_address || ':' || status FROM messages WHERE kind = 'marketing' AND status = 'skipped'"
        ),
        "waiting@example.com:skipped"
    );
    let to: Vec<String> = wait_mail(&sink, 2)
        .iter()
        .map(|m| format!("{}:{}", m.to[0], m.header("Subject").unwrap_or_default()))
        .collect();
    assert!(
        to.contains(&"<single@example.com>:Promo".to_string()),
        "{to:?}"
    );
    assert!(
        !to.contains(&"<waiting@example.com>:Promo".to_string()),
        "{to:?}"
    );
}

#[test]
fn an_unsubscribed_contact_comes_back_on_a_double_opt_in_list_only_after_confirming() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let list = create_list(&api, "Newsletter", true);
    let (status, created) = status_and_json(api.post(
        "/api/contacts",
        &json!({"email": "gone@example.com", "subscribed": false}),
    ));
    assert!(status == 200 || status == 201, "{created}");
    assert_eq!(subscribed(&herald, "gone@example.com"), 0);

    subscribe(&api, "gone@example.com", &[&list]);
    assert_eq!(
        subscribed(&herald, "gone@example.com"),
        0,
        "a form post alone does not undo an unsubscribe"
    );
    let mails = wait_mail(&sink, 1);
    let confirm = link_path(&mails[0], "/confirm/");
    let r = reqwest::blocking::Client::new()
        .post(herald.url(&confirm))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(subscribed(&herald, "gone@example.com"), 1);
    assert_eq!(membership(&herald, "gone@example.com"), "confirmed");
}

#[test]
fn a_contact_that_left_a_list_is_never_added_back_by_anyone_but_itself() {
    let (herald, sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let list = create_list(&api, "Newsletter", false);
    create_welcome_automation(&api, &list);
    let ada = subscribe(&api, "ada@example.com", &[&list])["contactId"]
        .as_str()
        .unwrap()
        .to_string();
    let welcome = wait_mail(&sink, 1);
    let preferences = link_path(&welcome[0], "/preferences/");
    let client = reqwest::blocking::Client::new();
    let left = client
        .post(herald.url(&preferences))
        .form(&[("action", "save")])
        .send()
        .unwrap();
    assert_eq!(left.status(), 200);
    assert_eq!(membership(&herald, "ada@example.com"), "unsubscribed");

    // The lists API neither adds nor erases the choice, and says so.
    let added = api.post_ok(
        &format!("/api/lists/{list}/members"),
        &json!({"contactId": ada}),
    );
    assert_eq!(
        added,
        json!({"added": 0, "alreadyMembers": 0, "unsubscribed": 1})
    );
    let (status, body) = status_and_json(api.delete(&format!("/api/lists/{list}/members/{ada}")));
    assert_eq!(status, 409, "{body}");
    assert_eq!(membership(&herald, "ada@example.com"), "unsubscribed");

    // An automation's "add to list" skips her, and still adds someone who never left.
    let (status, body) = status_and_json(api.post(
        "/api/automations",
        &json!({"name": "Upgrade", "status": "active",
                "trigger": {"type": "event", "event": "upgraded"},
                "steps": [{"type": "add_to_list", "list": list},
                          {"type": "update_contact", "addTags": ["upgraded"]}]}),
    ));
    assert_eq!(status, 201, "{body}");
    for email in ["ada@example.com", "bob@example.com"] {
        let r = api.post(
            "/api/events/send",
            &json!({"email": email, "eventName": "upgraded"}),
        );
        assert_eq!(r.status(), 200);
    }
    wait_until(
        "both enrollments to finish",
        Duration::from_secs(10),
        || {
            count(
                &herald,
                "SELECT COUNT(*) FROM contacts WHERE tags LIKE '%upgraded%'",
            ) == 2
        },
    );
    assert_eq!(membership(&herald, "ada@example.com"), "unsubscribed");
    assert_eq!(membership(&herald, "bob@example.com"), "confirmed");

    // Her own preferences page brings her back.
    let back = client
        .post(herald.url(&preferences))
        .form(&[("action", "save"), ("list", list.as_str())])
        .send()
        .unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(membership(&herald, "ada@example.com"), "confirmed");
}

#[test]
fn bad_signups_are_refused_naming_the_field_and_write_nothing() {
    let (herald, _sink) = with_sink();
    let api = Api::new(&herald, "Acme");
    let list = create_list(&api, "Newsletter", true);
    let consent = json!({"text": "Yes please"});
    let cases = [
        (json!({"consent": consent}), "email"),
        (
            json!({"email": "not-an-email", "consent": consent}),
            "email",
        ),
        (json!({"email": "a@example.com"}), "consent"),
        (
            json!({"email": "a@example.com", "consent": {"text": ""}}),
            "consent",
        ),
        (
            json!({"email": "a@example.com", "consent": "yes"}),
            "consent",
        ),
        (
            json!({"email": "a@example.com", "consent": {"text": "x".repeat(20_000)}}),
            "consent",
        ),
        (
            json!({"email": "a@example.com", "consent": consent, "plan": "pro"}),
            "plan",
        ),
        (
            json!({"email": "a@example.com", "consent": consent, "properties": {"undeclared": 1}}),
            "undeclared",
        ),
        (
            json!({"email": "a@example.com", "consent": consent, "firstName": "x".repeat(100_000)}),
            "firstName",
        ),
        (
            json!({"email": "a@example.com", "consent": consent, "listIds": "all"}),
            "listIds",
        ),
        (
            json!({"email": "a@example.com", "consent": consent, "listIds": [list, "nope"]}),
            "listIds",
        ),
    ];
    for (body, field) in cases {
        let (status, json) = status_and_json(api.post("/api/contacts/subscribe", &body));
        assert_eq!(status, 400, "{body} → {json}");
        assert_eq!(json["statusCode"], 400);
        assert!(
            json["message"].as_str().unwrap().contains(field),
            "{field}: {json}"
        );
    }
    for table in ["contacts", "consents", "list_members", "messages", "events"] {
        assert_eq!(
            count(&herald, &format!("SELECT COUNT(*) FROM {table}")),
            0,
            "nothing written to {table}"
        );
    }
    let r = api
        .request("POST", "/api/contacts/subscribe")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::blocking::Client::new()
        .post(herald.url("/api/contacts/subscribe"))
        .json(&json!({"email": "a@example.com", "consent": consent}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "signups need a key");
}
