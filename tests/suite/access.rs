//! The permission model, walked route by route: every route of the route table (read
//! from `herald routes`, so a new route is covered the day it is added) is called by
//! every kind of caller, and each gets the outcome the model promises.

use crate::support;

use std::collections::HashMap;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use support::api::Api;
use support::{Herald, page_csrf};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    Member,
    OtherWorkspace,
    Admin,
    Owner,
    Key,
}

struct Caller {
    who: Who,
    client: Client,
    csrf: Option<String>,
    key: Option<String>,
}

struct Route {
    method: String,
    path: String,
    access: String,
    changes_state: bool,
}

fn routes(herald: &Herald) -> Vec<Route> {
    let out = herald.cli(&["routes"], None);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Route {
                method: v["method"].as_str().unwrap().into(),
                path: v["path"].as_str().unwrap().into(),
                access: v["access"].as_str().unwrap().into(),
                changes_state: v["changesState"].as_bool().unwrap(),
            }
        })
        .collect()
}

/// Workspace A's resources, by the path parameter that names them.
fn fixtures(herald: &Herald, api: &Api) -> HashMap<&'static str, String> {
    let id = |r: Response| -> String {
        let status = r.status();
        let body: Value = r.json().unwrap();
        assert!(status.is_success(), "{body}");
        body["id"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| body["id"].to_string())
    };
    let contact = id(api.post("/api/contacts", &json!({"email": "ada@example.com"})));
    let template = id(api.post(
        "/api/templates",
        &json!({"name": "T", "subject": "s", "html": "<p>h</p>"}),
    ));
    let automation = id(api.post(
        "/api/automations",
        &json!({"name": "A", "status": "draft", "trigger": {"type": "event", "event": "signUp"}, "steps": []}),
    ));
    let source = id(api.post(
        "/api/event-sources",
        &json!({"name": "S", "emailPath": "email", "eventName": "signUp"}),
    ));
    assert!(
        api.post(
            "/api/contact-fields",
            &json!({"key": "plan", "type": "text"})
        )
        .status()
        .is_success()
    );
    assert!(
        api.post("/api/event-patterns", &json!({"name": "signUp"}))
            .status()
            .is_success()
    );
    let trigger = api
        .post(
            "/api/v1/events/send",
            &json!({"event_name": "signUp", "user_info": {"email": "ada@example.com"}}),
        )
        .json::<Value>()
        .unwrap()["trigger_id"]
        .as_str()
        .unwrap()
        .to_string();
    let import = id(api.send_body(
        "POST",
        "/api/contacts/import",
        "text/csv",
        "email\nbob@example.com\n",
    ));
    let message = api
        .post(
            &format!("/api/templates/{template}/test"),
            &json!({"to": "t@example.com"}),
        )
        .json::<Value>()
        .unwrap()["messageId"]
        .as_str()
        .unwrap()
        .to_string();
    let segment = id(api.post(
        "/api/segments",
        &json!({"name": "Everyone", "filter": {"all": []}}),
    ));
    let list = id(api.post("/api/lists", &json!({"name": "Newsletter"})));
    let form = api
        .post("/api/forms", &json!({"name": "Signup"}))
        .json::<Value>()
        .unwrap();
    let webhook = api
        .post(
            "/v1/webhooks",
            &json!({"name": "Hook", "url": "https://hooks.example.invalid/herald",
                    "events": ["webhook.test"], "timeoutMs": 1000}),
        )
        .json::<Value>()
        .unwrap()["data"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let channel = api
        .post(
            "/api/channels",
            &json!({"kind": "email", "name": "Support", "fromAddress": "support@acme.example"}),
        )
        .json::<Value>()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (spare_key, spare_user) = spare_key_and_member(herald);
    HashMap::from([
        ("channel", channel),
        ("contact", contact),
        ("template", template),
        ("automation", automation),
        ("list", list),
        ("source", source),
        ("trigger", trigger),
        ("import", import),
        ("message", message),
        ("segment", segment),
        ("form", form["id"].as_str().unwrap().to_string()),
        ("form_slug", form["slug"].as_str().unwrap().to_string()),
        ("webhook", webhook),
        ("key", spare_key.to_string()),
        ("user", spare_user.to_string()),
    ])
}

/// A second key and a second member of workspace A, by database id.
fn spare_key_and_member(herald: &Herald) -> (i64, i64) {
    herald.create_key("Acme");
    herald.add_user("spare@example.com", "Acme", "spare-password-1", "member");
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let first_key: i64 = conn
        .query_row("SELECT MIN(id) FROM api_keys", [], |r| r.get(0))
        .unwrap();
    let spare_key: i64 = conn
        .query_row("SELECT MAX(id) FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert_ne!(first_key, spare_key);
    let spare_user: i64 = conn
        .query_row(
            "SELECT id FROM users WHERE email = 'spare@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (spare_key, spare_user)
}

/// The path with its parameters filled by workspace A's resources; `None` for paths
/// whose parameter is a secret token (nobody but its holder has one).
fn fill(path: &str, f: &HashMap<&'static str, String>) -> (String, bool) {
    let by_prefix = [
        ("/api/contacts/imports/", "import"),
        ("/contacts/imports/", "import"),
        ("/api/contacts/", "contact"),
        ("/automations/contact/", "contact"),
        ("/contacts/", "contact"),
        ("/api/templates/", "template"),
        ("/templates/", "template"),
        ("/api/automations/", "automation"),
        ("/automations/", "automation"),
        ("/api/lists/", "list"),
        ("/lists/contact/", "contact"),
        ("/lists/", "list"),
        ("/api/event-sources/", "source"),
        ("/events/sources/", "source"),
        ("/api/v1/triggers/", "trigger"),
        ("/api/segments/", "segment"),
        ("/segments/", "segment"),
        ("/outbox/", "message"),
        ("/settings/api-keys/", "key"),
        ("/settings/members/", "user"),
        ("/settings/webhooks/", "webhook"),
        ("/settings/channels/", "channel"),
        ("/api/channels/", "channel"),
        ("/v1/webhooks/", "webhook"),
        ("/api/v1/webhooks/", "webhook"),
        ("/api/forms/", "form"),
        ("/forms/", "form"),
        ("/f/", "form_slug"),
    ];
    let Some(start) = path.find('{') else {
        return (path.to_string(), false);
    };
    let end = path[start..].find('}').unwrap() + start;
    let head = &path[..start];
    let value = match &path[start + 1..end] {
        "key" => "plan".to_string(),
        "name" => "signUp".to_string(),
        "path:.*" => "app.css".to_string(),
        // A second parameter naming a contact (a list's member, say).
        "contact" => f["contact"].clone(),
        _ => match by_prefix.iter().find(|(p, _)| head == *p) {
            Some((_, name)) => f[name].clone(),
            None => "no-such-token".to_string(),
        },
    };
    // Field keys and pattern names are looked up in the caller's own workspace.
    let owned = by_prefix.iter().any(|(p, _)| head == *p)
        && !matches!(&path[start + 1..end], "key" | "name");
    let (rest, rest_owned) = fill(&path[end + 1..], f);
    (format!("{head}{value}{rest}"), owned || rest_owned)
}

fn call(herald: &Herald, caller: &Caller, route: &Route, path: &str) -> Response {
    let url = herald.url(path);
    let mut request = caller.client.request(route.method.parse().unwrap(), &url);
    if let Some(key) = &caller.key {
        request = request.header("X-API-Key", key);
    }
    let api = route.access.starts_with("api");
    if api {
        if let Some(token) = &caller.csrf {
            request = request.header("X-CSRF-Token", token);
        }
        if route.method != "GET" {
            request = request.json(&json!({}));
        }
    } else if route.method == "POST" {
        let token = caller.csrf.clone().unwrap_or_default();
        request = request.form(&[("csrf_token", token)]);
    }
    request.send().unwrap()
}

fn check(who: Who, route: &Route, path: &str, owned: bool, response: Response) {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let what = format!("{who:?} {} {path} ({})", route.method, route.access);
    assert!(
        status < 500,
        "{what}: {status} {}",
        response.text().unwrap_or_default()
    );
    let refused = status == 401 || status == 403;
    let to_login = status == 303 && location.starts_with("/login");
    match (route.access.as_str(), who) {
        ("public" | "token", _) => assert!(!refused && !to_login, "{what}: {status}"),
        // Nobody in this walk holds a channel token: every caller is refused alike.
        ("bearer", _) => assert_eq!(status, 401, "{what}"),
        // Nor does anyone sign as Twilio or Meta would.
        ("signed", _) => assert!(status == 403 || status == 404, "{what}: {status}"),
        (a, Who::Nobody) if a.starts_with("api") => assert_eq!(status, 401, "{what}"),
        (_, Who::Nobody) => assert!(to_login, "{what}: {status} {location}"),
        (a, Who::Member) if a.ends_with("manage") => assert_eq!(status, 403, "{what}"),
        (_, Who::OtherWorkspace) if owned => {
            // Another workspace's resource does not exist for this caller: never a
            // success (the walk checks afterwards that nothing of A changed).
            assert!(!(200..300).contains(&status), "{what}: {status}");
            assert!(
                status != 303 || route.changes_state,
                "{what}: {status} {location}"
            );
        }
        _ => assert!(!refused && !to_login, "{what}: {status} {location}"),
    }
}

/// Workspace A's live keys and members.
fn keys_and_members(herald: &Herald) -> (i64, i64) {
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE w.name = 'Acme' AND revoked_at IS NULL),
                (SELECT COUNT(*) FROM memberships m JOIN workspaces w ON w.id = m.workspace_id WHERE w.name = 'Acme')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The model itself, stated apart from the table: members change nothing but their own
/// session and password, and send events; everything else that changes state takes an
/// owner or admin, and only sign-in and token links change state without credentials.
fn assert_the_table_follows_the_model(table: &[Route]) {
    let open_to_members = [
        "/api/events/send",
        "/api/v1/events/send",
        "/api/v1/events/trigger",
        "/api/contacts/subscribe",
        "/workspaces/switch",
        "/account/password",
    ];
    for route in table.iter().filter(|r| r.changes_state) {
        let what = format!("{} {} is {}", route.method, route.path, route.access);
        match route.access.as_str() {
            "signed" => assert!(
                route.path.starts_with("/api/channels/{id}/"),
                "{what}: only provider webhooks are signed"
            ),
            "public" | "token" | "bearer" => assert!(
                ["/login", "/logout"].contains(&route.path.as_str())
                    || [
                        "/setup/",
                        "/unsubscribe/",
                        "/hooks/",
                        "/confirm/",
                        "/preferences/",
                        "/f/",
                        // A channel token in the Authorization header is the credential.
                        "/api/integration/"
                    ]
                    .iter()
                    .any(|p| route.path.starts_with(p)),
                "{what}: it changes state without credentials"
            ),
            access if open_to_members.contains(&route.path.as_str()) => {
                assert!(!access.ends_with(":manage"), "{what}: members may do this")
            }
            access => assert!(access.ends_with(":manage"), "{what}: only managers may"),
        }
    }
}

/// Calls every route (but sign-in and sign-out) as each caller and checks the outcome.
fn walk(herald: &Herald, table: &[Route], f: &HashMap<&'static str, String>, callers: &[Caller]) {
    for route in table
        .iter()
        .filter(|r| r.path != "/logout" && r.path != "/login")
    {
        let (path, owned) = fill(&route.path, f);
        for caller in callers {
            if caller.who == Who::Key && !route.access.starts_with("api") {
                continue;
            }
            check(
                caller.who,
                route,
                &path,
                owned,
                call(herald, caller, route, &path),
            );
        }
    }
}

/// Workspace A's resources, keys and members are as the fixtures left them.
fn nothing_of_a_changed(
    herald: &Herald,
    api: &Api,
    f: &HashMap<&'static str, String>,
    keys_and_members_before: (i64, i64),
) {
    let contact = api.get(&format!("/api/contacts/{}", f["contact"]));
    assert_eq!(contact["email"], "ada@example.com");
    assert_eq!(
        api.get("/api/templates")["templates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        api.get("/api/contact-fields")
            .to_string()
            .contains("\"plan\"")
    );
    assert!(
        api.get("/api/event-patterns")
            .to_string()
            .contains("signUp")
    );
    let automation = api.get(&format!("/api/automations/{}", f["automation"]));
    assert_eq!(automation["status"], "draft");
    let segment = api.get(&format!("/api/segments/{}", f["segment"]));
    assert_eq!(segment["name"], "Everyone");
    let list = api.get(&format!("/api/lists/{}", f["list"]));
    assert_eq!(list["name"], "Newsletter");
    assert!(api.get(&format!("/api/event-sources/{}", f["source"]))["enabled"] != false);
    assert_eq!(
        api.get(&format!("/api/forms/{}", f["form"]))["name"],
        "Signup"
    );
    let webhook = api.get(&format!("/v1/webhooks/{}", f["webhook"]))["data"].clone();
    assert_eq!(
        (webhook["name"].as_str(), webhook["status"].as_str()),
        (Some("Hook"), Some("active"))
    );
    let channel = api.get(&format!("/api/channels/{}", f["channel"]));
    assert_eq!(
        (channel["name"].as_str(), channel["fromAddress"].as_str()),
        (Some("Support"), Some("support@acme.example")),
        "{channel}"
    );
    assert_eq!(
        keys_and_members(herald),
        keys_and_members_before,
        "no key revoked, no member removed"
    );
}

#[test]
fn every_route_gives_every_caller_what_the_permission_model_says() {
    let herald = Herald::start();
    herald.add_user("owner@acme.example", "Acme", "owner-password-1", "owner");
    herald.add_user("admin@acme.example", "Acme", "admin-password-1", "admin");
    herald.add_user("member@acme.example", "Acme", "member-password-1", "member");
    herald.add_user("owner@other.example", "Other", "other-password-1", "owner");
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    let f = fixtures(&herald, &api);
    let session = |who, email, password| {
        let client = herald.signed_in(email, password);
        let csrf = Some(page_csrf(&herald, &client, "/settings"));
        Caller {
            who,
            client,
            csrf,
            key: None,
        }
    };
    let table = routes(&herald);
    assert!(table.len() > 80, "the table lists every route");
    assert_the_table_follows_the_model(&table);

    // First the callers who must be refused, then a check that nothing of A changed.
    let before = keys_and_members(&herald);
    let refused = [
        Caller {
            who: Who::Nobody,
            client: herald.browser(),
            csrf: None,
            key: None,
        },
        session(Who::Member, "member@acme.example", "member-password-1"),
        session(
            Who::OtherWorkspace,
            "owner@other.example",
            "other-password-1",
        ),
    ];
    walk(&herald, &table, &f, &refused);
    nothing_of_a_changed(&herald, &api, &f, before);

    // Then those who may: nothing refuses them.
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let allowed = [
        session(Who::Admin, "admin@acme.example", "admin-password-1"),
        session(Who::Owner, "owner@acme.example", "owner-password-1"),
        Caller {
            who: Who::Key,
            client: no_redirects,
            csrf: None,
            key: Some(api.key.clone()),
        },
    ];
    walk(&herald, &table, &f, &allowed);
}
