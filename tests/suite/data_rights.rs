//! Data rights: a contact's export holds everything Herald keeps about it, and erasure
//! removes all of it (memberships, their history, consents, events, messages).

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::InProcessHerald;
use support::api::{Api, status_and_json, wait_until};
use support::smtp::SmtpSink;

fn count(herald: &InProcessHerald, sql: &str) -> i64 {
    herald.query(sql)
}

/// A contact who signed up with consent to a list, triggered an automation that mailed it,
/// and sent an event of its own.
fn a_known_contact(herald: &InProcessHerald, api: &Api) -> String {
    let (_, list) = status_and_json(api.post("/api/lists", &json!({"name": "Newsletter"})));
    let (_, template) = status_and_json(api.post(
        "/api/templates",
        &json!({"name": "Welcome", "subject": "Welcome", "html": "<p>Hi {{contact.firstName}}</p>"}),
    ));
    let (status, _) = status_and_json(api.post(
        "/api/automations",
        &json!({"name": "Welcome", "status": "active",
                "trigger": {"type": "list_joined", "list": list["id"]},
                "steps": [{"type": "email", "template": template["id"]}]}),
    ));
    assert_eq!(status, 201);
    let (status, signup) = status_and_json(api.post(
        "/api/contacts/subscribe",
        &json!({"email": "ada@example.com", "firstName": "Ada", "listIds": [list["id"]],
                "consent": {"text": "Email me the newsletter", "version": "v3"}}),
    ));
    assert_eq!(status, 200, "{signup}");
    let r = api.post(
        "/api/events/send",
        &json!({"email": "ada@example.com", "eventName": "purchase", "eventProperties": {"total": 42}}),
    );
    assert_eq!(r.status(), 200);
    wait_until(
        "the welcome email to be sent",
        Duration::from_secs(10),
        || {
            count(
                herald,
                "SELECT COUNT(*) FROM messages WHERE status = 'sent'",
            ) == 1
        },
    );
    signup["contactId"].as_str().unwrap().to_string()
}

#[test]
fn the_export_holds_everything_and_erasure_removes_it() {
    let sink = SmtpSink::start();
    let herald =
        InProcessHerald::start_with_smtp(sink.port, |c| c.ratelimit.requests_per_second = 0.0);
    let api = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let id = a_known_contact(&herald, &api);

    let r = api.get_response(&format!("/api/contacts/{id}/export"));
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let export: Value = r.json().unwrap();
    assert_eq!(export["contact"]["email"], "ada@example.com");
    assert_eq!(export["contact"]["firstName"], "Ada");
    assert_eq!(export["lists"][0]["listName"], "Newsletter");
    assert_eq!(export["lists"][0]["status"], "confirmed");
    assert_eq!(export["listHistory"][0]["status"], "confirmed");
    assert_eq!(export["consents"][0]["text"], "Email me the newsletter");
    assert_eq!(export["consents"][0]["version"], "v3");
    let events: Vec<&str> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    for name in ["contact_added", "list_joined", "purchase"] {
        assert!(events.contains(&name), "{name} in {events:?}");
    }
    let purchase = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eventName"] == "purchase")
        .unwrap();
    assert_eq!(purchase["properties"]["total"], 42);
    assert_eq!(export["messages"][0]["subject"], "Welcome");
    assert!(
        export["messages"][0]["html"]
            .as_str()
            .unwrap()
            .contains("Hi Ada")
    );
    assert_eq!(export["enrollments"].as_array().unwrap().len(), 1);

    // Another workspace cannot export it.
    let r = other.get_response(&format!("/api/contacts/{id}/export"));
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().unwrap()["statusCode"], 404);

    let r = api.delete(&format!("/api/contacts/{id}"));
    assert!(r.status().is_success(), "{}", r.status());
    for table in [
        "contacts",
        "consents",
        "list_members",
        "list_member_changes",
        "events",
        "messages",
        "enrollments",
    ] {
        assert_eq!(
            count(&herald, &format!("SELECT COUNT(*) FROM {table}")),
            0,
            "erasure leaves nothing in {table}"
        );
    }
    assert_eq!(
        count(&herald, "SELECT COUNT(*) FROM lists"),
        1,
        "the list stays"
    );
    assert_eq!(
        api.get_response(&format!("/api/contacts/{id}/export"))
            .status(),
        404
    );
}

#[test]
fn the_contact_page_links_to_its_lists_and_consents() {
    let sink = SmtpSink::start();
    let herald =
        InProcessHerald::start_with_smtp(sink.port, |c| c.ratelimit.requests_per_second = 0.0);
    herald.add_user("owner@acme.test", "Acme", "owner-password", "owner");
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    let id = a_known_contact(&herald, &api);
    let browser = herald.signed_in("owner@acme.test", "owner-password");
    let contact = support::page_html(&herald, &browser, &format!("/contacts/{id}"));
    assert!(contact.contains(&format!("/lists/contact/{id}")));
    assert!(
        contact.contains("purchase"),
        "the timeline shows the contact's events"
    );
    let page = support::page_html(&herald, &browser, &format!("/lists/contact/{id}"));
    for shown in ["Newsletter", "confirmed", "Email me the newsletter", "v3"] {
        assert!(page.contains(shown), "{shown}");
    }
    herald.add_user("owner@other.test", "Other", "other-password", "owner");
    let stranger = herald.signed_in("owner@other.test", "other-password");
    let r = stranger
        .get(herald.url(&format!("/lists/contact/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}
