//! Workspace API keys: every accepted header, wrong / revoked keys, X-Team-ID, and
//! isolation between workspaces.

use crate::support;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::{Api, status_and_json};
use support::{Herald, get_text, page_csrf};

fn workspace(herald: &Herald, key: &str) -> (u16, Value) {
    status_and_json(Api::with_key(herald, key.to_string()).get_response("/api/workspace"))
}

#[test]
fn a_key_is_accepted_in_every_documented_header() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let key = herald.create_key("Acme");
    assert!(key.starts_with("hk_"));
    let client = Client::new();
    for (name, value) in [
        ("X-API-Key", key.clone()),
        ("X-Api-Key", key.clone()),
        ("Authorization", format!("Bearer {key}")),
    ] {
        let r = client
            .get(herald.url("/api/workspace"))
            .header(name, value)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["name"], "Acme");
        assert!(body["id"].as_str().unwrap().len() >= 16);
    }
}

#[test]
fn missing_wrong_and_revoked_keys_get_401_json() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let key = herald.create_key("Acme");
    let client = Client::new();

    let missing = client.get(herald.url("/api/workspace")).send().unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().unwrap();
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["error"], "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("API key"));

    let mut wrong = key.clone();
    wrong.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
    assert_eq!(workspace(&herald, &wrong).0, 401);
    assert_eq!(workspace(&herald, "hk_short").0, 401);
    assert_eq!(workspace(&herald, "").0, 401);
    let (_, body) = workspace(&herald, "not-even-our-format");
    assert_eq!(body["statusCode"], 401);

    assert_eq!(workspace(&herald, &key).0, 200);
    let list = herald.cli(&["apikey", "list", "--workspace", "Acme"], None);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(listing.contains(&key[..11]), "listed by prefix: {listing}");
    assert!(!listing.contains(&key), "never the whole key: {listing}");
    let revoke = herald.cli(
        &["apikey", "revoke", "--workspace", "Acme", &key[..11]],
        None,
    );
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let (status, body) = workspace(&herald, &key);
    assert_eq!(status, 401, "revocation takes effect at once");
    assert_eq!(body["statusCode"], 401);
}

#[test]
fn keys_are_stored_only_as_hashes() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let key = herald.create_key("Acme");
    let raw = std::fs::read(herald.db_path()).unwrap();
    let wal = std::fs::read(herald.data_dir().join("herald.db-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "key found in the database file"
        );
    }
}

#[test]
fn x_team_id_must_name_the_keys_workspace() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    herald.add_user("eve@example.com", "Globex", "eve-password", "owner");
    let acme_key = herald.create_key("Acme");
    let globex_key = herald.create_key("Globex");
    let (_, acme) = workspace(&herald, &acme_key);
    let (_, globex) = workspace(&herald, &globex_key);
    let api = Api::with_key(&herald, acme_key);
    let in_team = |team: &str| {
        api.request("GET", "/api/workspace")
            .header("X-Team-ID", team)
            .send()
            .unwrap()
    };

    let right = in_team(acme["id"].as_str().unwrap());
    assert_eq!(right.status(), 200);

    let wrong = in_team(globex["id"].as_str().unwrap());
    assert_eq!(wrong.status(), 401, "the seed's status for a foreign team");
    let body: Value = wrong.json().unwrap();
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["message"], "Invalid team context");

    let garbage = in_team("not-a-team");
    assert_eq!(garbage.status(), 401);
}

#[test]
fn a_key_of_workspace_a_never_sees_or_changes_workspace_b() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    herald.add_user("eve@example.com", "Globex", "eve-password", "owner");
    let acme_key = herald.create_key("Acme");
    let globex_key = herald.create_key("Globex");
    let (_, acme) = workspace(&herald, &acme_key);
    assert_eq!(acme["name"], "Acme");
    let renamed = Api::with_key(&herald, acme_key.clone())
        .patch("/api/workspace", &json!({"name": "Acme Ltd"}));
    assert_eq!(renamed.status(), 200);
    let (_, globex) = workspace(&herald, &globex_key);
    assert_eq!(globex["name"], "Globex", "other workspace untouched");
    let (_, acme) = workspace(&herald, &acme_key);
    assert_eq!(acme["name"], "Acme Ltd");

    // A Globex key cannot revoke Acme's key through the CLI's workspace scoping either.
    let acme_prefix = &acme_key[..11];
    let out = herald.cli(
        &["apikey", "revoke", "--workspace", "Globex", acme_prefix],
        None,
    );
    assert!(!out.status.success());
    assert_eq!(workspace(&herald, &acme_key).0, 200);

    // Nor through the UI: Eve revoking Acme's key id from her Globex session finds nothing.
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let acme_key_id: i64 = conn
        .query_row(
            "SELECT id FROM api_keys WHERE prefix = ?1",
            [acme_prefix],
            |r| r.get(0),
        )
        .unwrap();
    let eve = herald.signed_in("eve@example.com", "eve-password");
    let token = page_csrf(&herald, &eve, "/settings");
    let attempt = eve
        .post(herald.url(&format!("/settings/api-keys/{acme_key_id}/revoke")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(attempt.status(), 404);
    assert_eq!(workspace(&herald, &acme_key).0, 200);
    let settings = get_text(&herald, &eve, "/settings");
    assert!(
        !settings.contains(acme_prefix),
        "Globex settings never list Acme keys"
    );
}

#[test]
fn keys_are_created_once_and_revoked_in_the_ui() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    let token = page_csrf(&herald, &browser, "/settings");
    let created = browser
        .post(herald.url("/settings/api-keys"))
        .form(&[("name", "website"), ("csrf_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(created.status(), 200);
    let html = created.text().unwrap();
    let start = html.find("hk_").unwrap();
    let key: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(key.len(), 67);
    assert_eq!(workspace(&herald, &key).0, 200);

    let settings = get_text(&herald, &browser, "/settings");
    assert!(settings.contains("website"));
    assert!(settings.contains(&key[..11]));
    assert!(
        !settings.contains(&key),
        "the full key is never shown again"
    );

    let action = settings.find("/revoke\"").map(|end| {
        let start = settings[..end].rfind("action=\"").unwrap() + 8;
        settings[start..end + 7].to_string()
    });
    let revoked = browser
        .post(herald.url(&action.unwrap()))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 303);
    assert_eq!(workspace(&herald, &key).0, 401);
    let settings = get_text(&herald, &browser, "/settings");
    assert!(settings.contains("revoked"));
}

#[test]
fn a_signed_in_session_can_call_the_api_for_its_workspace() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    let body: Value = browser
        .get(herald.url("/api/workspace"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["name"], "Acme");
}

#[test]
fn a_signed_in_member_reads_through_the_api_but_only_managers_change_things() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    herald.add_user("bob@example.com", "Acme", "difference-engine", "member");
    let member = herald.signed_in("bob@example.com", "difference-engine");
    let owner = herald.signed_in("ada@example.com", "analytical-engine");

    let listed = member.get(herald.url("/api/contacts")).send().unwrap();
    assert_eq!(listed.status(), 200, "members read");
    let refused = [
        ("/api/contacts", json!({"email": "c@example.com"})),
        (
            "/api/contact-fields",
            json!({"key": "plan", "type": "text"}),
        ),
        (
            "/api/templates",
            json!({"name": "T", "subject": "s", "html": "<p>h</p>"}),
        ),
        (
            "/api/automations",
            json!({"name": "A", "status": "draft", "trigger": {"type": "event", "event": "x"}, "steps": []}),
        ),
        (
            "/api/event-sources",
            json!({"name": "S", "emailPath": "email", "eventName": "x"}),
        ),
    ];
    for (path, body) in &refused {
        let r = member.post(herald.url(path)).json(body).send().unwrap();
        assert_eq!(r.status(), 403, "member POST {path}");
        let err: Value = r.json().unwrap();
        assert_eq!(err["statusCode"], 403);
        assert_eq!(err["error"], "Forbidden");
    }
    let none: Value = owner
        .get(herald.url("/api/contacts"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(none["total"], 0, "nothing was written by the refused calls");

    let token = support::page_csrf(&herald, &owner, "/settings");
    let created = owner
        .post(herald.url("/api/contacts"))
        .header("X-CSRF-Token", &token)
        .json(&json!({"email": "c@example.com"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201, "owners change things");
    let id = created.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = member
        .delete(herald.url(&format!("/api/contacts/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "member DELETE");
    // An API key acts for the workspace whoever created it.
    let api = Api::with_key(&herald, herald.create_key("Acme"));
    let r = api.delete(&format!("/api/contacts/{id}"));
    assert!(r.status().is_success(), "{}", r.status());
}
