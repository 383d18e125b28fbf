//! Forms end to end: built over the API and in the UI, shown on their hosted page, and
//! submitted to the public endpoint as a browser (form-encoded) and as a script (JSON),
//! with CORS, spam checks on the server's own clock, and workspace isolation.

use crate::support;

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use support::api::{Api, status_and_json};
use support::{InProcessHerald, page_csrf, page_html};

/// Herald in this process on a manual clock, API keys not rate limited.
fn herald_with(configure: impl FnOnce(&mut herald::config::Config)) -> InProcessHerald {
    InProcessHerald::start_with(|config| {
        config.ratelimit.requests_per_second = 0.0;
        configure(config);
    })
}

fn herald() -> InProcessHerald {
    herald_with(|_| {})
}

fn create_form(api: &Api, body: Value) -> Value {
    let r = api.post("/api/forms", &body);
    let (status, created) = status_and_json(r);
    assert_eq!(status, 201, "{created}");
    created
}

fn create_list(api: &Api, name: &str, opt_in: &str) -> String {
    api.create("/api/lists", &json!({"name": name, "optIn": opt_in}))
}

fn count(herald: &InProcessHerald, sql: &str) -> i64 {
    herald.query(sql)
}

/// What a submission must not have touched: contacts, events, memberships, consents.
fn written(herald: &InProcessHerald) -> (i64, i64, i64, i64) {
    (
        count(herald, "SELECT COUNT(*) FROM contacts"),
        count(herald, "SELECT COUNT(*) FROM events"),
        count(herald, "SELECT COUNT(*) FROM list_members"),
        count(herald, "SELECT COUNT(*) FROM consents"),
    )
}

fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn post(herald: &InProcessHerald, slug: &str) -> RequestBuilder {
    no_redirects()
        .post(herald.url(&format!("/f/{slug}")))
        .header("user-agent", "FormsTest/1.0")
}

/// The hidden timing token of a rendered form page.
fn token_of(page: &str) -> String {
    let marker = "name=\"_t\" value=\"";
    let start = page.find(marker).expect("the page carries a timing token") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

fn newsletter(api: &Api, list: &str) -> Value {
    create_form(
        api,
        json!({
            "name": "Newsletter signup",
            "fields": [
                {"key": "email", "label": "Your email"},
                {"key": "firstName", "label": "First name", "required": true},
                {"key": "lastName"},
                {"key": "company", "label": "Company"}
            ],
            "listIds": [list],
            "consent": {"text": "I agree to receive the Acme newsletter.", "version": "v1"},
            "successMessage": "Thanks, you are in!",
        }),
    )
}

#[test]
fn forms_are_created_listed_read_updated_and_deleted_over_the_api() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    let created = create_form(&api, json!({"name": "Newsletter signup"}));
    assert_eq!(created["slug"], "newsletter-signup");
    assert_eq!(created["eventName"], "form_submitted");
    assert_eq!(created["allowedOrigins"], json!(["*"]));
    assert_eq!(created["fields"][0]["key"], "email");
    assert_eq!(created["fields"][0]["required"], true);
    assert!(
        created["url"]
            .as_str()
            .unwrap()
            .ends_with("/f/newsletter-signup")
    );
    // The same name again gets an address of its own.
    let second = create_form(&api, json!({"name": "Newsletter signup"}));
    assert_eq!(second["slug"], "newsletter-signup-2");

    let id = created["id"].as_str().unwrap();
    let listed = api.get("/api/forms")["forms"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    let shown = api.get(&format!("/api/forms/{id}"));
    assert_eq!(shown["stats"]["submissions"]["total"], 0);

    let r = api.put(
        &format!("/api/forms/{id}"),
        &json!({"slug": "join", "redirectUrl": "https://acme.example/thanks", "minFillSeconds": 0}),
    );
    let (status, updated) = status_and_json(r);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["slug"], "join");
    assert_eq!(
        updated["name"], "Newsletter signup",
        "absent parts are kept"
    );
    assert_eq!(updated["redirectUrl"], "https://acme.example/thanks");
    let cleared = api.put(&format!("/api/forms/{id}"), &json!({"redirectUrl": null}));
    assert_eq!(status_and_json(cleared).1["redirectUrl"], Value::Null);

    let r = api.delete(&format!("/api/forms/{id}"));
    assert_eq!(r.status(), 200);
    assert_eq!(api.get_response(&format!("/api/forms/{id}")).status(), 404);
    assert_eq!(
        Client::new()
            .get(herald.url("/f/join"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn bad_form_definitions_are_400_naming_the_field() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let foreign = create_list(&other, "Theirs", "single");
    let cases = [
        (json!({}), "name"),
        (json!({"name": "F", "colour": "red"}), "colour"),
        (
            json!({"name": "F", "fields": [{"key": "firstName"}]}),
            "fields",
        ),
        (
            json!({"name": "F", "fields": [{"key": "email"}, {"key": "shoeSize"}]}),
            "fields[1].key",
        ),
        (
            json!({"name": "F", "fields": [{"key": "email"}, {"key": "email"}]}),
            "fields[1].key",
        ),
        (
            json!({"name": "F", "fields": [{"key": "email", "required": "yes"}]}),
            "fields[0].required",
        ),
        (
            json!({"name": "F", "allowedOrigins": ["https://shop.example/page"]}),
            "allowedOrigins[0]",
        ),
        (
            json!({"name": "F", "redirectUrl": "javascript:alert(1)"}),
            "redirectUrl",
        ),
        (json!({"name": "F", "eventName": "9 lives"}), "eventName"),
        (json!({"name": "F", "listIds": [foreign]}), "listIds[0]"),
        (json!({"name": "F", "slug": "Not A Slug"}), "slug"),
        (
            json!({"name": "F", "consent": {"text": " "}}),
            "consent.text",
        ),
        (
            json!({"name": "F", "minFillSeconds": 99999}),
            "minFillSeconds",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = status_and_json(api.post("/api/forms", &body));
        assert_eq!(status, 400, "{body} → {error}");
        assert_eq!(error["statusCode"], 400);
        assert_eq!(error["error"], "Bad Request");
        assert_eq!(error["details"]["field"], field, "{body} → {error}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    create_form(&api, json!({"name": "First", "slug": "taken"}));
    let (status, error) =
        status_and_json(other.post("/api/forms", &json!({"name": "Mine", "slug": "taken"})));
    assert_eq!(status, 409, "slugs are unique across workspaces: {error}");
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM forms"), 1);
}

#[test]
fn the_hosted_page_carries_the_workspace_name_and_works_without_javascript() {
    let herald = herald();
    let api = Api::new(&herald, "Acme Bakery");
    api.post_ok(
        "/api/contact-fields",
        &json!({"key": "company", "type": "text", "label": "Company"}),
    );
    let list = create_list(&api, "News", "single");
    newsletter(&api, &list);
    let r = Client::new()
        .get(herald.url("/f/newsletter-signup"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let policy = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("form-action 'self'"), "{policy}");
    let page = r.text().unwrap();
    assert!(
        page.contains("Acme Bakery"),
        "the workspace's name is shown"
    );
    assert!(page.contains("<h1>Newsletter signup</h1>"));
    assert!(page.contains(r#"name="viewport" content="width=device-width, initial-scale=1""#));
    for needle in [
        r#"type="email" name="email""#,
        r#"name="firstName""#,
        r#"name="lastName""#,
        r#"name="company""#,
        "Your email",
        "I agree to receive the Acme newsletter.",
        r#"name="_hp""#,
        r#"method="post" action="/f/newsletter-signup""#,
    ] {
        assert!(page.contains(needle), "page lacks {needle}");
    }
    assert!(!token_of(&page).is_empty());
    assert!(
        !page.contains("<script"),
        "the hosted page needs no JavaScript"
    );
    let stats = api.get("/api/forms")["forms"][0]["stats"].clone();
    assert_eq!(stats["views"]["hosted"], 1);
}

#[test]
fn a_browser_post_creates_the_contact_records_consent_joins_the_list_and_the_event() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    api.post_ok(
        "/api/contact-fields",
        &json!({"key": "company", "type": "text"}),
    );
    let list = create_list(&api, "News", "single");
    let form = newsletter(&api, &list);
    let page = Client::new()
        .get(herald.url("/f/newsletter-signup"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    herald.advance(Duration::from_secs(5));
    let r = post(&herald, "newsletter-signup")
        .header("origin", herald.base.clone())
        .form(&[
            ("email", "Ada@Example.com"),
            ("firstName", "Ada"),
            ("lastName", "Lovelace"),
            ("company", "Analytical"),
            ("consent", "yes"),
            ("_hp", ""),
            ("_t", token_of(&page).as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("Thanks, you are in!"));

    let contact = api.get("/api/contacts?search=ada@example.com")["contacts"][0].clone();
    assert_eq!(contact["email"], "ada@example.com");
    assert_eq!(contact["firstName"], "Ada");
    assert_eq!(contact["lastName"], "Lovelace");
    assert_eq!(contact["properties"]["company"], "Analytical");
    let (text, ip, agent, form_uid): (String, String, String, String) = {
        let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
        conn.query_row(
            "SELECT c.text, c.ip, c.user_agent, f.uid FROM consents c JOIN forms f ON f.id = c.form_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    assert_eq!(text, "I agree to receive the Acme newsletter.");
    assert_eq!(ip, "127.0.0.1");
    assert_eq!(agent, "FormsTest/1.0");
    assert_eq!(form_uid, form["id"].as_str().unwrap());
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM list_members WHERE status = 'confirmed' AND source = 'form'"
        ),
        1
    );
    let events = api.events("eventName=form_submitted");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["properties"]["formId"], form["id"]);
    assert_eq!(events[0]["source"], "form");
    let stats = api.get(&format!("/api/forms/{}", form["id"].as_str().unwrap()))["stats"].clone();
    assert_eq!(stats["submissions"]["hosted"], 1);
    assert_eq!(stats["hostedConversion"], 1.0);
}

#[test]
fn a_json_post_updates_the_contact_and_a_double_opt_in_list_waits_for_confirmation() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    api.post_ok(
        "/api/contacts",
        &json!({"email": "grace@example.com", "firstName": "G"}),
    );
    let list = create_list(&api, "Weekly", "double");
    let form = create_form(
        &api,
        json!({"name": "Weekly", "fields": [{"key": "email"}, {"key": "firstName"}], "listIds": [list]}),
    );
    let r = post(&herald, "weekly")
        .json(&json!({"email": "grace@example.com", "firstName": "Grace"}))
        .send()
        .unwrap();
    let (status, body) = status_and_json(r);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["requiresConfirmation"], true);
    assert_eq!(body["message"], form["successMessage"]);
    let contact = api.get("/api/contacts?search=grace")["contacts"][0].clone();
    assert_eq!(contact["firstName"], "Grace", "the contact was updated");
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM contacts"), 1);
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM list_members WHERE status = 'unconfirmed'"
        ),
        1
    );
    assert_eq!(
        count(
            &herald,
            "SELECT COUNT(*) FROM messages WHERE kind = 'transactional'"
        ),
        1,
        "the confirmation email is queued"
    );
    assert_eq!(
        count(&herald, "SELECT COUNT(*) FROM consents"),
        0,
        "the form asks no consent"
    );
    assert_eq!(api.events("eventName=form_submitted").len(), 1);
}

#[test]
fn a_submission_redirects_or_shows_the_success_message() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    create_form(
        &api,
        json!({"name": "Go", "redirectUrl": "https://acme.example/thanks"}),
    );
    create_form(
        &api,
        json!({"name": "Stay", "successMessage": "See you soon."}),
    );
    let page = Client::new().get(herald.url("/f/go")).send().unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("form-action 'self' https://acme.example"),
        "{policy}"
    );
    let r = post(&herald, "go")
        .form(&[("email", "a@example.com")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "https://acme.example/thanks");
    let (status, body) = status_and_json(
        post(&herald, "go")
            .json(&json!({"email": "b@example.com"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(body["redirectUrl"], "https://acme.example/thanks");
    let r = post(&herald, "stay")
        .form(&[("email", "c@example.com")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("See you soon."));
}

fn preflight(herald: &InProcessHerald, slug: &str, origin: &str) -> Response {
    Client::new()
        .request(reqwest::Method::OPTIONS, herald.url(&format!("/f/{slug}")))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .unwrap()
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn cors_answers_allowed_origins_and_refuses_the_others() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    create_form(
        &api,
        json!({"name": "Shop", "allowedOrigins": ["https://shop.example"]}),
    );
    create_form(&api, json!({"name": "Open"}));

    let r = preflight(&herald, "shop", "https://shop.example");
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    assert!(
        header(&r, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(&r, "access-control-allow-headers")
            .unwrap()
            .to_lowercase()
            .contains("content-type")
    );
    assert!(header(&r, "vary").unwrap().contains("Origin"));
    let r = preflight(&herald, "shop", "https://evil.example");
    assert_eq!(r.status(), 403);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = preflight(&herald, "open", "https://anyone.example");
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );

    let r = post(&herald, "shop")
        .header("origin", "https://shop.example")
        .json(&json!({"email": "buyer@example.com"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    let before = written(&herald);
    let r = post(&herald, "shop")
        .header("origin", "https://evil.example")
        .json(&json!({"email": "victim@example.com"}))
        .send()
        .unwrap();
    let (status, body) = status_and_json(r);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("https://evil.example")
    );
    let r = post(&herald, "shop")
        .header("origin", "https://evil.example")
        .form(&[("email", "victim@example.com")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        written(&herald),
        before,
        "nothing written for a refused origin"
    );

    let r = Client::new()
        .get(herald.url("/f/shop/token"))
        .header("origin", "https://shop.example")
        .send()
        .unwrap();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    let token: Value = r.json().unwrap();
    assert!(token["token"].as_str().is_some());
    assert_eq!(token["minFillSeconds"], 3);
}

fn spam_stats(api: &Api, id: &str) -> Value {
    api.get(&format!("/api/forms/{id}"))["stats"]["spam"].clone()
}

#[test]
fn spam_is_refused_with_its_status_counted_and_writes_nothing() {
    let herald = herald_with(|config| config.forms.per_ip_per_minute = 3);
    let api = Api::new(&herald, "Acme");
    let form = create_form(&api, json!({"name": "Trap"}));
    let id = form["id"].as_str().unwrap();
    let page = Client::new()
        .get(herald.url("/f/trap"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let token = token_of(&page);
    let before = written(&herald);

    let r = post(&herald, "trap")
        .form(&[("email", "bot@example.com"), ("_hp", "http://spam.example")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "the honeypot was filled in");
    let r = post(&herald, "trap")
        .form(&[("email", "quick@example.com"), ("_t", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 429, "sent a second after the page was shown");
    assert_eq!(header(&r, "retry-after").as_deref(), Some("3"));
    let kept = r.text().unwrap();
    assert!(
        kept.contains("quick@example.com"),
        "the page again keeps what was typed"
    );
    assert_eq!(
        token_of(&kept),
        token,
        "and the token, so waiting is enough"
    );
    herald.advance(Duration::from_secs(1));
    let r = post(&herald, "trap")
        .json(&json!({"email": "forged@example.com", "_t": "1.deadbeef"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "a forged token");
    let r = post(&herald, "trap")
        .json(&json!({"email": "flood@example.com"}))
        .send()
        .unwrap();
    let (status, body) = (r.status(), header(&r, "retry-after"));
    assert_eq!(
        status, 429,
        "the fourth post within a minute from one address"
    );
    assert_eq!(body.as_deref(), Some("19"));
    assert_eq!(
        written(&herald),
        before,
        "no contact, event, membership or consent"
    );
    let spam = spam_stats(&api, id);
    assert_eq!(
        spam,
        json!({"total": 4, "honeypot": 1, "tooFast": 2, "rateLimited": 1})
    );

    // The address's budget refills on the server's clock, and the token is old enough.
    herald.advance(Duration::from_secs(20));
    let r = post(&herald, "trap")
        .form(&[("email", "patient@example.com"), ("_t", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM contacts"), 1);
    let owner = herald.signed_in("owner@acme.example.com", "owner-password");
    let html = page_html(&herald, &owner, &format!("/forms/{id}"));
    assert!(
        html.contains("rate_limited") && html.contains("honeypot"),
        "the form page lists the blocks"
    );
}

#[test]
fn a_form_that_requires_the_token_refuses_posts_without_one() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    let form = create_form(
        &api,
        json!({"name": "Strict", "requireToken": true, "minFillSeconds": 0}),
    );
    let (status, body) = status_and_json(
        post(&herald, "strict")
            .json(&json!({"email": "a@example.com"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("timing token"));
    let r = post(&herald, "strict")
        .form(&[("email", "a@example.com")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let again = r.text().unwrap();
    assert!(
        again.contains("a@example.com"),
        "the form again, with what was typed"
    );
    let r = post(&herald, "strict")
        .form(&[
            ("email", "a@example.com"),
            ("_t", token_of(&again).as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "sent again from the page it came back on");
    assert_eq!(spam_stats(&api, form["id"].as_str().unwrap())["tooFast"], 2);
}

#[test]
fn bad_submissions_are_400_for_scripts_and_the_page_again_for_browsers() {
    let herald = herald_with(|config| config.forms.per_ip_per_minute = 0);
    let api = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let foreign = create_list(&other, "Theirs", "single");
    let ours = create_list(&api, "Ours", "single");
    create_form(
        &api,
        json!({"name": "Pick", "fields": [{"key": "email"}, {"key": "firstName"}], "listIds": [ours], "listChoice": true}),
    );
    let long = "x".repeat(20_000);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"firstName": "Ada"}), "email"),
        (
            json!({"email": "not-an-address", "firstName": "Ada"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "shoeSize": "42"}),
            "shoeSize",
        ),
        (
            json!({"email": "a@example.com", "firstName": long}),
            "firstName",
        ),
        (
            json!({"email": "a@example.com", "listIds": [foreign]}),
            "listIds[0]",
        ),
    ];
    let before = written(&herald);
    for (body, field) in &cases {
        let (status, error) = status_and_json(post(&herald, "pick").json(body).send().unwrap());
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["details"]["field"], *field, "{error}");
        assert!(
            error["message"].as_str().unwrap().starts_with(field),
            "{error}"
        );
        let pairs: Vec<(String, String)> = body
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v[0].as_str().unwrap().to_string()),
                )
            })
            .collect();
        let r = post(&herald, "pick").form(&pairs).send().unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let page = r.text().unwrap();
        assert!(page.contains("Please check the form"), "{page}");
        if let Some(first) = body
            .get("firstName")
            .and_then(Value::as_str)
            .filter(|n| n.len() < 100)
        {
            assert!(page.contains(&format!("value=\"{first}\"")), "input kept");
        }
        if let Some(email) = body.get("email").and_then(Value::as_str) {
            assert!(page.contains(&format!("value=\"{email}\"")), "input kept");
        }
    }
    let page = post(&herald, "pick")
        .form(&[("firstName", "Ada")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Email is required."), "{page}");
    assert_eq!(written(&herald), before, "nothing partial was written");
    assert_eq!(count(&herald, "SELECT COUNT(*) FROM form_submissions"), 0);
}

#[test]
fn another_workspace_cannot_read_edit_or_delete_a_form() {
    let herald = herald();
    let (_, api) = herald.owner_signed_in("owner@acme.example", "Acme", "acme-password-1");
    let form = create_form(&api, json!({"name": "Mine"}));
    let id = form["id"].as_str().unwrap();
    let (browser, other) =
        herald.owner_signed_in("owner@other.example", "Other", "other-password-1");
    assert_eq!(
        other.get_response(&format!("/api/forms/{id}")).status(),
        404
    );
    assert_eq!(
        other
            .put(&format!("/api/forms/{id}"), &json!({"name": "Theirs"}))
            .status(),
        404
    );
    assert_eq!(other.delete(&format!("/api/forms/{id}")).status(), 404);
    assert_eq!(
        other.get("/api/forms")["forms"].as_array().unwrap().len(),
        0
    );
    let csrf = page_csrf(&herald, &browser, "/forms");
    for path in [format!("/forms/{id}"), format!("/forms/{id}/edit")] {
        assert_eq!(
            browser.get(herald.url(&path)).send().unwrap().status(),
            404,
            "{path}"
        );
    }
    let r = browser
        .post(herald.url(&format!("/forms/{id}")))
        .form(&[("csrf_token", csrf.as_str()), ("name", "Theirs")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = browser
        .post(herald.url(&format!("/forms/{id}/delete")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(api.get(&format!("/api/forms/{id}"))["name"], "Mine");
}

#[test]
fn forms_are_built_edited_and_deleted_in_the_ui_without_javascript() {
    let herald = herald();
    let (browser, api) = herald.owner_signed_in("owner@acme.example", "Acme", "acme-password-1");
    api.post_ok(
        "/api/contact-fields",
        &json!({"key": "company", "type": "text", "label": "Company"}),
    );
    let list = create_list(&api, "News", "single");
    let nav = page_html(&herald, &browser, "/forms");
    assert!(nav.contains(r#"href="/forms""#) && nav.contains("Forms"));
    let editor = page_html(&herald, &browser, "/forms/new");
    assert!(
        editor.contains("include_company"),
        "declared fields are offered"
    );
    let csrf = page_csrf(&herald, &browser, "/forms/new");
    let mut fields = vec![
        ("csrf_token", csrf.clone()),
        ("name", "Spring launch".to_string()),
        ("slug", "".to_string()),
        ("include_firstName", "on".to_string()),
        ("required_firstName", "on".to_string()),
        ("label_firstName", "Given name".to_string()),
        ("include_company", "on".to_string()),
        ("order_company", "2".to_string()),
        ("order_firstName", "3".to_string()),
        ("list", list.clone()),
        ("consent_on", "on".to_string()),
        ("consent_text", "Yes, email me".to_string()),
        ("consent_required", "on".to_string()),
        ("success_message", "Welcome!".to_string()),
        ("event_name", "springSignup".to_string()),
        ("allowed_origins", "*".to_string()),
        ("min_fill_seconds", "2".to_string()),
        ("redirect_url", "not a url".to_string()),
    ];
    let r = browser
        .post(herald.url("/forms"))
        .form(&fields)
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let again = r.text().unwrap();
    assert!(again.contains("redirectUrl must be an absolute"), "{again}");
    assert!(
        again.contains("value=\"Spring launch\"") && again.contains("Yes, email me"),
        "input kept"
    );
    fields.retain(|(k, _)| *k != "redirect_url");
    let r = browser
        .post(herald.url("/forms"))
        .form(&fields)
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let at = support::location(&r);
    let form = api.get("/api/forms")["forms"][0].clone();
    assert_eq!(at, format!("/forms/{}", form["id"].as_str().unwrap()));
    assert_eq!(form["slug"], "spring-launch");
    let keys: Vec<&str> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["email", "company", "firstName"],
        "in the order given"
    );
    assert_eq!(form["fields"][2]["label"], "Given name");
    assert_eq!(form["consent"]["text"], "Yes, email me");
    assert_eq!(form["eventName"], "springSignup");

    let shown = page_html(&herald, &browser, &at);
    assert!(shown.contains("/f/spring-launch"));
    assert!(
        shown.contains("data-herald-form") && shown.contains("form.js"),
        "the snippet"
    );
    assert!(shown.contains("Hosted conversion"));
    let patterns = page_html(&herald, &browser, "/automations/new");
    assert!(
        patterns.contains("springSignup"),
        "the automation editor offers the form's event"
    );

    let edit = page_html(&herald, &browser, &format!("{at}/edit"));
    assert!(edit.contains("value=\"Given name\""));
    let mut changed = fields.clone();
    changed.retain(|(k, _)| *k != "name");
    changed.push(("name", "Summer launch".into()));
    let r = browser.post(herald.url(&at)).form(&changed).send().unwrap();
    assert_eq!(r.status(), 303);
    let form = api.get(&format!("/api/forms/{}", form["id"].as_str().unwrap()));
    assert_eq!(
        (form["name"].as_str(), form["slug"].as_str()),
        (Some("Summer launch"), Some("spring-launch"))
    );

    let r = browser
        .post(herald.url(&format!("{at}/delete")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(api.get("/api/forms")["forms"].as_array().unwrap().len(), 0);
}

#[test]
fn members_see_forms_but_cannot_change_them() {
    let herald = herald();
    let (_, api) = herald.owner_signed_in("owner@acme.example", "Acme", "acme-password-1");
    let form = create_form(&api, json!({"name": "Mine"}));
    herald.add_user("member@acme.example", "Acme", "member-password-1", "member");
    let member = herald.signed_in("member@acme.example", "member-password-1");
    let page = page_html(
        &herald,
        &member,
        &format!("/forms/{}", form["id"].as_str().unwrap()),
    );
    assert!(!page.contains("Edit form"));
    assert_eq!(
        member
            .get(herald.url("/forms/new"))
            .send()
            .unwrap()
            .status(),
        403
    );
}

#[test]
fn an_automation_on_the_form_event_enrolls_the_person() {
    let herald = herald();
    let api = Api::new(&herald, "Acme");
    let form = create_form(&api, json!({"name": "Join"}));
    let automation = api.create(
        "/api/automations",
        &json!({"name": "Welcome", "status": "active",
                "trigger": {"type": "event", "event": "form_submitted"},
                "filters": {"field": "event.formId", "op": "eq", "value": form["id"]},
                "steps": [{"type": "wait", "duration": "1d"}]}),
    );
    let r = post(&herald, "join")
        .json(&json!({"email": "new@example.com"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let enrollments = api.get(&format!("/api/automations/{automation}/enrollments"))["enrollments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(enrollments.len(), 1);
}
