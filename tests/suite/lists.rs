//! Lists over the API and in the UI: create, rename, delete with counts, members by state,
//! validation, and one workspace never seeing another's lists.

use crate::support;

use serde_json::{Value, json};
use support::api::{Api, status_and_json};
use support::{Herald, csrf_from, page_html};

fn create_list(api: &Api, body: Value) -> Value {
    let (status, json) = status_and_json(api.post("/api/lists", &body));
    assert_eq!(status, 201, "{json}");
    json
}

fn contact(api: &Api, email: &str) -> String {
    let (status, json) = status_and_json(api.post("/api/contacts", &json!({"email": email})));
    assert!(status == 200 || status == 201, "{json}");
    json["id"].as_str().unwrap().to_string()
}

fn count(herald: &Herald, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn lists_are_created_renamed_listed_and_deleted_with_their_counts() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");

    let news = create_list(
        &api,
        json!({"name": "  Newsletter ", "description": "Monthly news", "doubleOptIn": true}),
    );
    assert_eq!(news["name"], "Newsletter");
    assert_eq!(news["optIn"], "double");
    assert_eq!(news["doubleOptIn"], true);
    assert_eq!(news["public"], true);
    assert_eq!(news["members"]["total"], 0);
    let beta = create_list(&api, json!({"name": "Beta testers", "public": false}));
    assert_eq!(beta["optIn"], "single");
    assert_eq!(beta["public"], false);

    let id = news["id"].as_str().unwrap();
    let (status, renamed) = status_and_json(api.put(
        &format!("/api/lists/{id}"),
        &json!({"name": "Monthly news", "optIn": "single"}),
    ));
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "Monthly news");
    assert_eq!(
        renamed["description"], "Monthly news",
        "untouched fields are kept"
    );
    assert_eq!(renamed["optIn"], "single");

    let all = api.get("/api/lists");
    let names: Vec<&str> = all["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Monthly news") && names.contains(&"Beta testers"));

    let a = contact(&api, "a@example.com");
    let b = contact(&api, "b@example.com");
    let (status, added) = status_and_json(api.post(
        &format!("/api/lists/{id}/members"),
        &json!({"contactIds": [a, b]}),
    ));
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["added"], 2);
    let again = api.post(
        &format!("/api/lists/{id}/members"),
        &json!({"contactId": a}),
    );
    assert_eq!(
        again.json::<Value>().unwrap()["added"],
        0,
        "adding twice is a no-op"
    );

    let r = api.delete(&format!("/api/lists/{id}/members/{b}"));
    assert_eq!(r.status(), 200);
    let shown = api.get(&format!("/api/lists/{id}"));
    assert_eq!(shown["members"]["confirmed"], 1, "{shown}");
    assert_eq!(
        shown["members"]["total"], 1,
        "a removed contact is no member: {shown}"
    );

    let confirmed = api.get(&format!("/api/lists/{id}/members?status=confirmed"));
    let members = confirmed["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["email"], "a@example.com");
    assert_eq!(members[0]["source"], "api");

    let (status, deleted) = status_and_json(api.delete(&format!("/api/lists/{id}")));
    assert_eq!(status, 200);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["members"]["confirmed"], 1);
    assert_eq!(deleted["members"]["total"], 1);
    assert_eq!(api.get_response(&format!("/api/lists/{id}")).status(), 404);
    assert_eq!(
        count(&herald, "SELECT COUNT(*) FROM list_members"),
        0,
        "memberships go with the list"
    );
    assert_eq!(
        count(&herald, "SELECT COUNT(*) FROM contacts"),
        2,
        "contacts stay"
    );
}

#[test]
fn members_page_through_with_a_cursor() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let list = create_list(&api, json!({"name": "All"}));
    let id = list["id"].as_str().unwrap();
    let ids: Vec<String> = (0..5)
        .map(|i| contact(&api, &format!("p{i}@example.com")))
        .collect();
    api.post_ok(
        &format!("/api/lists/{id}/members"),
        &json!({"contactIds": ids}),
    );
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let query = match cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let page = api.get(&format!("/api/lists/{id}/members{query}"));
        for m in page["members"].as_array().unwrap() {
            seen.push(m["email"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_i64() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    let expected: Vec<String> = (0..5).map(|i| format!("p{i}@example.com")).collect();
    assert_eq!(seen, expected, "every member once, none skipped");
}

#[test]
fn bad_list_input_is_refused_naming_the_field_and_writes_nothing() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    create_list(&api, json!({"name": "Taken"}));
    let cases = [
        (json!({}), 400, "name"),
        (json!({"name": ""}), 400, "name"),
        (json!({"name": "x".repeat(300)}), 400, "name"),
        (json!({"name": "Ok", "optIn": "triple"}), 400, "optIn"),
        (json!({"name": "Ok", "public": "yes"}), 400, "public"),
        (json!({"name": "Ok", "colour": "red"}), 400, "colour"),
        (json!({"name": "taken"}), 409, "already"),
    ];
    for (body, status, mentions) in cases {
        let (got, json) = status_and_json(api.post("/api/lists", &body));
        assert_eq!(got, status, "{body} → {json}");
        assert_eq!(json["statusCode"], status, "{json}");
        assert!(
            json["message"].as_str().unwrap().contains(mentions),
            "{body}: {json}"
        );
    }
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM lists"), 1);

    let list = api.get("/api/lists")["lists"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bad_members = [
        json!({}),
        json!({"contactIds": []}),
        json!({"contactIds": [1, 2]}),
        json!({"contactIds": ["nope"]}),
    ];
    for body in bad_members {
        let r = api.post(&format!("/api/lists/{list}/members"), &body);
        assert_eq!(r.status(), 400, "{body}");
    }
    let r = api.get_response(&format!("/api/lists/{list}/members?status=maybe"));
    assert_eq!(r.status(), 400);
    let r = api.get_response(&format!("/api/lists/{list}/members?limit=0"));
    assert_eq!(r.status(), 400);
}

#[test]
fn a_workspace_never_sees_or_changes_another_workspaces_lists() {
    let herald = Herald::start();
    let acme = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let list = create_list(&acme, json!({"name": "Secret"}));
    let id = list["id"].as_str().unwrap();
    let mine = contact(&acme, "mine@example.com");
    let theirs = contact(&other, "theirs@example.com");
    acme.post_ok(
        &format!("/api/lists/{id}/members"),
        &json!({"contactId": mine}),
    );

    assert!(
        other.get("/api/lists")["lists"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for r in [
        other.get_response(&format!("/api/lists/{id}")),
        other.get_response(&format!("/api/lists/{id}/members")),
        other.put(&format!("/api/lists/{id}"), &json!({"name": "Mine now"})),
        other.post(
            &format!("/api/lists/{id}/members"),
            &json!({"contactId": theirs}),
        ),
        other.delete(&format!("/api/lists/{id}/members/{mine}")),
        other.delete(&format!("/api/lists/{id}")),
    ] {
        assert_eq!(r.status(), 404);
    }
    // Acme cannot add Other's contact to its own list either.
    let r = acme.post(
        &format!("/api/lists/{id}/members"),
        &json!({"contactId": theirs}),
    );
    assert_eq!(r.status(), 400);
    // Nor subscribe someone to Other's list through its own key.
    let theirs_list = create_list(&other, json!({"name": "Theirs"}));
    let r = acme.post(
        "/api/contacts/subscribe",
        &json!({"email": "x@example.com", "listIds": [theirs_list["id"]], "consent": {"text": "Yes"}}),
    );
    assert_eq!(r.status(), 400);
    let shown = acme.get(&format!("/api/lists/{id}"));
    assert_eq!(shown["name"], "Secret");
    assert_eq!(shown["members"]["confirmed"], 1);
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM contacts WHERE email = 'x@example.com'"
        ),
        0
    );
}

#[test]
fn lists_are_managed_in_the_ui() {
    let herald = Herald::start();
    let (browser, api) = herald.owner_signed_in("owner@acme.test", "Acme", "owner-password");
    let page = page_html(&herald, &browser, "/lists");
    assert!(
        page.contains("No lists yet") || page.contains("Create"),
        "{page}"
    );
    let csrf = csrf_from(&page);

    let r = browser
        .post(herald.url("/lists"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", ""),
            ("description", "kept"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let body = r.text().unwrap();
    assert!(body.contains("name"), "the error names the field");
    assert!(body.contains("kept"), "what was typed is kept");

    let r = browser
        .post(herald.url("/lists"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Customers"),
            ("description", "People who bought"),
            ("opt_in", "double"),
            ("public", "on"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap_or_default());
    let lists = api.get("/api/lists");
    let list = &lists["lists"][0];
    assert_eq!(list["name"], "Customers");
    assert_eq!(list["optIn"], "double");
    let id = list["id"].as_str().unwrap();

    contact(&api, "buyer@example.com");
    let page = page_html(&herald, &browser, &format!("/lists/{id}"));
    let csrf = csrf_from(&page);
    let r = browser
        .post(herald.url(&format!("/lists/{id}/members")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "buyer@example.com"),
        ])
        .send()
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let page = page_html(&herald, &browser, &format!("/lists/{id}"));
    assert!(page.contains("buyer@example.com"), "{page}");
    assert_eq!(
        api.get(&format!("/api/lists/{id}"))["members"]["confirmed"],
        1
    );
    let index = page_html(&herald, &browser, "/lists");
    assert!(index.contains("Customers"));

    let r = browser
        .post(herald.url(&format!("/lists/{id}/delete")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .unwrap();
    assert!(r.status().is_redirection());
    assert!(
        api.get("/api/lists")["lists"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

fn tags_of(api: &Api, contact: &str) -> Vec<String> {
    api.get(&format!("/api/contacts/{contact}"))["tags"]
        .as_array()
        .map(|t| t.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn automations_move_contacts_between_lists_and_branch_on_membership() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let trial = create_list(&api, json!({"name": "Trial"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let customers = create_list(&api, json!({"name": "Customers"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = status_and_json(api.post(
        "/api/automations",
        &json!({"name": "Upgrade", "status": "active",
        "trigger": {"type": "event", "event": "upgraded"},
        "steps": [
            {"type": "remove_from_list", "list": trial},
            {"type": "add_to_list", "list": customers},
            {"type": "branch",
             "if": {"all": [{"memberOf": customers}, {"not": {"memberOf": trial}}]},
             "then": [{"type": "update_contact", "addTags": ["moved"]}],
             "else": [{"type": "update_contact", "addTags": ["stuck"]}]}
        ]}),
    ));
    assert_eq!(status, 201, "{body}");
    // A list_joined automation on Customers fires for the automation's join.
    let (status, body) = status_and_json(api.post(
        "/api/automations",
        &json!({"name": "Welcome customer", "status": "active",
                "trigger": {"type": "list_joined", "list": customers},
                "steps": [{"type": "update_contact", "addTags": ["welcomed"]}]}),
    ));
    assert_eq!(status, 201, "{body}");

    let ada = contact(&api, "ada@example.com");
    api.post_ok(
        &format!("/api/lists/{trial}/members"),
        &json!({"contactId": ada}),
    );
    let r = api.post(
        "/api/events/send",
        &json!({"email": "ada@example.com", "eventName": "upgraded"}),
    );
    assert_eq!(r.status(), 200);
    support::api::wait_until(
        "the automation to tag the contact",
        std::time::Duration::from_secs(10),
        || {
            let tags = tags_of(&api, &ada);
            tags.contains(&"moved".to_string()) && tags.contains(&"welcomed".to_string())
        },
    );
    assert!(!tags_of(&api, &ada).contains(&"stuck".to_string()));
    let members = |list: &str| api.get(&format!("/api/lists/{list}/members"))["members"].clone();
    assert_eq!(members(&trial), json!([]), "taken off the trial list");
    assert_eq!(members(&customers)[0]["status"], "confirmed");
    assert_eq!(
        api.get(&format!("/api/lists/{customers}/members"))["members"][0]["source"],
        "automation"
    );
}

#[test]
fn automations_naming_unknown_lists_are_refused() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let theirs = create_list(&other, json!({"name": "Theirs"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        (json!({"type": "list_joined"}), json!([]), "trigger.list"),
        (
            json!({"type": "list_joined", "list": theirs}),
            json!([]),
            "trigger.list",
        ),
        (
            json!({"type": "event", "event": "x"}),
            json!([{"type": "add_to_list", "list": theirs}]),
            "steps[0].list",
        ),
        (
            json!({"type": "event", "event": "x"}),
            json!([{"type": "branch", "if": {"memberOf": "nope"}, "then": []}]),
            "memberOf",
        ),
    ];
    for (trigger, steps, field) in cases {
        let (status, body) = status_and_json(api.post(
            "/api/automations",
            &json!({"name": "A", "status": "active", "trigger": trigger, "steps": steps}),
        ));
        assert_eq!(status, 400, "{trigger} {steps}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM automations"), 0);
}
