//! Roles hold: owners are changed only by owners, the last owner stays, adding a member
//! does not reveal who has an account, members send no test mail, and cookie-signed API
//! calls that change state need a CSRF proof whatever their content type.

use crate::support;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::Api;
use support::{Herald, get_text, page_csrf};

fn role_of(herald: &Herald, email: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    conn.query_row(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = ?1",
        [email],
        |r| r.get(0),
    )
    .ok()
}

/// Posts the add-member form and returns the flash message the settings page then shows.
fn add_member(
    herald: &Herald,
    browser: &Client,
    email: &str,
    role: &str,
    password: &str,
) -> String {
    let token = page_csrf(herald, browser, "/settings");
    let r = browser
        .post(herald.url("/settings/members"))
        .form(&[
            ("email", email),
            ("role", role),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = get_text(herald, browser, "/settings");
    let start = page.find("class=\"flash").expect("a flash message");
    let end = page[start..].find("</").unwrap() + start;
    page[start..end].split('>').next_back().unwrap().to_string()
}

/// An admin's attempts to demote or remove the owner change nothing.
fn an_admin_cannot_demote_or_remove_the_owner(herald: &Herald, admin: &Client) {
    let said = add_member(
        herald,
        admin,
        "owner@example.com",
        "member",
        "whatever-password",
    );
    assert!(said.contains("Only owners"), "{said}");
    assert_eq!(
        role_of(herald, "owner@example.com").as_deref(),
        Some("owner")
    );

    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let owner_id: i64 = conn
        .query_row(
            "SELECT id FROM users WHERE email = 'owner@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let token = page_csrf(herald, admin, "/settings");
    admin
        .post(herald.url(&format!("/settings/members/{owner_id}/remove")))
        .form(&[("csrf_token", &token)])
        .send()
        .unwrap();
    assert_eq!(
        role_of(herald, "owner@example.com").as_deref(),
        Some("owner"),
        "not removed"
    );
}

/// The only owner cannot demote themself either, from the UI or the command line.
fn the_last_owner_stays(herald: &Herald, owner: &Client) {
    let said = add_member(
        herald,
        owner,
        "owner@example.com",
        "admin",
        "whatever-password",
    );
    assert!(said.contains("last owner"), "{said}");
    let out = herald.cli(
        &[
            "user",
            "add",
            "--email",
            "owner@example.com",
            "--workspace",
            "Acme",
            "--role",
            "member",
            "--password-stdin",
        ],
        Some("owner-password\n"),
    );
    assert!(!out.status.success());
    assert_eq!(
        role_of(herald, "owner@example.com").as_deref(),
        Some("owner")
    );
}

/// With a second owner, an owner may change the first.
fn a_second_owner_may_change_the_first(herald: &Herald, owner: &Client) {
    let said = add_member(
        herald,
        owner,
        "admin@example.com",
        "owner",
        "whatever-password",
    );
    assert!(
        said.contains("now a owner") || said.contains("is now"),
        "{said}"
    );
    let said = add_member(
        herald,
        owner,
        "owner@example.com",
        "admin",
        "whatever-password",
    );
    assert!(said.contains("is now"), "{said}");
    assert_eq!(
        role_of(herald, "owner@example.com").as_deref(),
        Some("admin")
    );
}

#[test]
fn admins_cannot_demote_or_remove_owners_and_the_last_owner_stays() {
    let herald = Herald::start();
    herald.add_user("owner@example.com", "Acme", "owner-password", "owner");
    herald.add_user("admin@example.com", "Acme", "admin-password", "admin");
    let admin = herald.signed_in("admin@example.com", "admin-password");
    an_admin_cannot_demote_or_remove_the_owner(&herald, &admin);
    let owner = herald.signed_in("owner@example.com", "owner-password");
    the_last_owner_stays(&herald, &owner);
    a_second_owner_may_change_the_first(&herald, &owner);
}

#[test]
fn adding_a_member_answers_alike_for_known_and_unknown_emails() {
    let herald = Herald::start();
    herald.add_user("owner@example.com", "Acme", "owner-password", "owner");
    herald.add_user("known@example.com", "Elsewhere", "known-password", "owner");
    let owner = herald.signed_in("owner@example.com", "owner-password");
    // Without a password both are refused the same way.
    let known = add_member(&herald, &owner, "known@example.com", "member", "");
    let unknown = add_member(&herald, &owner, "unknown@example.com", "member", "");
    assert_eq!(known, unknown);
    assert_eq!(role_of(&herald, "unknown@example.com"), None);
    // With one, both are added with the same words (names aside).
    let known = add_member(
        &herald,
        &owner,
        "known@example.com",
        "member",
        "a-fine-password",
    );
    let unknown = add_member(
        &herald,
        &owner,
        "unknown@example.com",
        "member",
        "a-fine-password",
    );
    assert_eq!(
        known.replace("known@", "X@"),
        unknown.replace("unknown@", "X@")
    );
    // The known user's own password was not replaced.
    herald.signed_in("known@example.com", "known-password");
}

#[test]
fn members_send_no_test_mail() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    herald.add_user("member@example.com", "Acme", "member-password", "member");
    let template = api.create(
        "/api/templates",
        &json!({"name": "T", "subject": "s", "html": "<p>h</p>"}),
    );
    let member = herald.signed_in("member@example.com", "member-password");
    let token = page_csrf(&herald, &member, "/settings");
    let page = member
        .post(herald.url(&format!("/templates/{template}/test")))
        .form(&[("to", "victim@outside.example"), ("csrf_token", &token)])
        .send()
        .unwrap();
    assert_eq!(page.status(), 403);
    let api_call = member
        .post(herald.url(&format!("/api/templates/{template}/test")))
        .header("X-CSRF-Token", &token)
        .json(&json!({"to": "victim@outside.example"}))
        .send()
        .unwrap();
    assert_eq!(api_call.status(), 403);
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let messages: i64 = conn
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(messages, 0);
}

/// Cookie-signed API calls that change state without a CSRF proof, each refused with
/// the API's error shape.
fn calls_without_a_proof_are_refused(
    herald: &Herald,
    owner: &Client,
    automation: &str,
    source: &str,
) {
    let resume = || owner.post(herald.url(&format!("/api/automations/{automation}/resume")));
    let attacks = [
        ("empty body", resume().send().unwrap()),
        (
            "form-encoded",
            owner
                .post(herald.url(&format!("/api/event-sources/{source}/rotate")))
                .form(&[("x", "1")])
                .send()
                .unwrap(),
        ),
        (
            "text/plain from a foreign origin",
            owner
                .post(herald.url("/api/contacts/import"))
                .header("Content-Type", "text/plain")
                .header("Origin", "https://evil.example")
                .body("email\nvictim@example.com\n")
                .send()
                .unwrap(),
        ),
        (
            "cross-site fetch",
            resume()
                .header("Sec-Fetch-Site", "cross-site")
                .send()
                .unwrap(),
        ),
        (
            "a wrong token",
            resume()
                .header("X-CSRF-Token", "0".repeat(64))
                .send()
                .unwrap(),
        ),
    ];
    for (what, r) in attacks {
        assert_eq!(r.status(), 403, "{what}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["statusCode"], 403, "{what}: the API's error shape");
    }
}

#[test]
fn cookie_api_calls_that_change_state_need_a_csrf_proof() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let automation = api.create("/api/automations", &json!({"name": "A", "status": "paused", "trigger": {"type": "event", "event": "x"}, "steps": []}));
    let source = api.create(
        "/api/event-sources",
        &json!({"name": "S", "emailPath": "email", "eventName": "x"}),
    );
    let owner = herald.signed_in("owner@acme.example.com", "owner-password");
    calls_without_a_proof_are_refused(&herald, &owner, &automation, &source);
    let resume = || owner.post(herald.url(&format!("/api/automations/{automation}/resume")));
    assert_eq!(
        api.get(&format!("/api/automations/{automation}"))["status"],
        "paused"
    );
    assert_eq!(api.get("/api/contacts")["total"], 0);

    // Herald's own pages pass: the session's token, or the browser saying same-origin.
    let token = page_csrf(&herald, &owner, "/settings");
    let ok = resume().header("X-CSRF-Token", &token).send().unwrap();
    assert_eq!(ok.status(), 200);
    let ok = owner
        .post(herald.url(&format!("/api/automations/{automation}/pause")))
        .header("Origin", herald.base.clone())
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = resume()
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Reads by cookie need no proof, and API keys never do.
    assert_eq!(
        owner
            .get(herald.url("/api/contacts"))
            .send()
            .unwrap()
            .status(),
        200
    );
}
