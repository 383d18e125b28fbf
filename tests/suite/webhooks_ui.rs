//! Settings → Webhooks in a browser: an owner creates an endpoint through the form (its
//! secret shown once), gets a mistake back with what was typed, sends a test event to a
//! real receiver, finds it in the delivery log, redelivers it (the same `webhook-id`
//! twice), edits, disables and enables, rotates and deletes; a member sees the pages but
//! no button that changes anything, and is refused if it posts anyway.

use crate::support;

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::{Api, wait_for};
use support::receiver::Receiver;
use support::{Herald, csrf_from, get_text, location, page_csrf, page_html};

const WAIT: Duration = Duration::from_secs(20);

fn start() -> Herald {
    Herald::start_with(&[
        ("HERALD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
    ])
}

fn post(
    herald: &Herald,
    browser: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let r = browser.post(herald.url(path)).form(form).send().unwrap();
    let status = r.status().as_u16();
    let to = if status == 303 {
        location(&r)
    } else {
        String::new()
    };
    (status, to, r.text().unwrap_or_default())
}

fn only_webhook(api: &Api) -> Value {
    let all = api.get("/v1/webhooks")["data"].clone();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    all[0].clone()
}

fn deliveries(api: &Api, id: &str) -> Vec<Value> {
    api.get(&format!("/v1/webhooks/{id}/deliveries"))["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Creates the endpoint through the form after one refused try; answers its id.
fn create_through_the_form(herald: &Herald, browser: &Client, api: &Api, url: &str) -> String {
    let index = page_html(herald, browser, "/settings/webhooks");
    assert!(
        index.contains("No webhooks yet") && index.contains("New webhook"),
        "{index}"
    );
    let new = page_html(herald, browser, "/settings/webhooks/new");
    for option in [
        "value=\"*\"",
        "value=\"contact.*\"",
        "value=\"webhook.test\"",
    ] {
        assert!(new.contains(option), "the catalogue offers {option}");
    }
    let csrf = csrf_from(&new);
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("name", "Receiver"),
        ("url", "ftp://127.0.0.1/hook"),
        ("events", "webhook.test"),
        ("events", "contact.*"),
        ("retry_attempts", "2"),
        ("timeout_ms", "5000"),
        ("scope", "general"),
        ("header_name_0", "X-Token"),
        ("header_value_0", "token-kept-1234"),
    ];
    let (status, _, page) = post(herald, browser, "/settings/webhooks", &form);
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("URL must start with http:// or https://"),
        "{page}"
    );
    for kept in [
        "value=\"Receiver\"",
        "value=\"ftp://127.0.0.1/hook\"",
        "value=\"contact.*\" checked",
        "token-kept-1234",
    ] {
        assert!(page.contains(kept), "what was typed is kept: {kept}");
    }
    assert!(
        api.get("/v1/webhooks")["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    form[2] = ("url", url);
    let (status, _, page) = post(herald, browser, "/settings/webhooks", &form);
    assert_eq!(status, 200, "{page}");
    let webhook = only_webhook(api);
    let id = webhook["_id"].as_str().unwrap().to_string();
    assert_eq!(webhook["events"], json!(["webhook.test", "contact.*"]));
    assert_eq!(
        (
            webhook["retryAttempts"].clone(),
            webhook["timeoutMs"].clone()
        ),
        (json!(2), json!(5000))
    );
    let secret = api.get(&format!("/v1/webhooks/{id}/secret"))["data"].clone();
    let (raw, whsec) = (
        secret["secret"].as_str().unwrap(),
        secret["signingSecret"].as_str().unwrap(),
    );
    assert!(
        page.contains(raw) && page.contains(whsec),
        "the secret is shown on creation"
    );
    for snippet in [
        "pip install standardwebhooks",
        "npm install standardwebhooks",
        "standard-webhooks/libraries/go",
    ] {
        assert!(page.contains(snippet), "{snippet}");
    }
    assert!(page.contains("data-copy=\"whsec\""), "a copy button");
    let later = page_html(herald, browser, &format!("/settings/webhooks/{id}"));
    assert!(
        !later.contains(raw) && !later.contains(whsec),
        "and never again"
    );
    let index = page_html(herald, browser, "/settings/webhooks");
    assert!(index.contains("Receiver") && index.contains(url) && index.contains("active"));
    id
}

#[test]
fn an_owner_manages_webhooks_in_the_ui_and_a_member_only_looks() {
    let herald = start();
    let receiver = Receiver::start();
    let (browser, api) = herald.owner_signed_in("owner@acme.test", "Acme", "owner-password");
    assert!(page_html(&herald, &browser, "/settings").contains("href=\"/settings/webhooks\""));
    let url = receiver.url("/hook");
    let id = create_through_the_form(&herald, &browser, &api, &url);
    let page = format!("/settings/webhooks/{id}");
    let csrf = page_csrf(&herald, &browser, &page);
    let token = [("csrf_token", csrf.as_str())];

    // A test event reaches the receiver, with the extra header, and shows in the log.
    let (status, to, _) = post(&herald, &browser, &format!("{page}/test"), &token);
    assert_eq!((status, to.as_str()), (303, page.as_str()));
    let first = receiver.wait_for(1, WAIT)[0].clone();
    assert!(first.body.contains("\"webhook.test\""), "{}", first.body);
    assert_eq!(first.header("x-token").as_deref(), Some("token-kept-1234"));
    let done = wait_for(
        "the delivery to be logged",
        WAIT,
        || deliveries(&api, &id),
        |d| d.first().is_some_and(|d| d["status"] == "succeeded"),
    );
    let delivery = done[0]["_id"].as_str().unwrap().to_string();
    let log = page_html(&herald, &browser, &page);
    assert!(
        log.contains(&format!("{page}/deliveries/{delivery}")) && log.contains("succeeded"),
        "{log}"
    );
    assert!(
        get_text(&herald, &browser, &format!("{page}?status=failed"))
            .contains("No deliveries match")
    );
    assert!(
        get_text(
            &herald,
            &browser,
            &format!("{page}?status=succeeded&event=webhook.test")
        )
        .contains(&delivery)
    );
    let detail = page_html(&herald, &browser, &format!("{page}/deliveries/{delivery}"));
    assert!(
        detail.contains("HTTP 200") && detail.contains(&first.header("webhook-id").unwrap()),
        "{detail}"
    );

    // Redelivery sends the same message again: one webhook-id, two calls.
    let (status, _, _) = post(
        &herald,
        &browser,
        &format!("{page}/deliveries/{delivery}/redeliver"),
        &token,
    );
    assert_eq!(status, 303);
    receiver.wait_for(2, WAIT);
    assert_eq!(receiver.unique_ids().len(), 1);
    let since = [("csrf_token", csrf.as_str()), ("since", "2020-01-01T00:00")];
    let (status, _, _) = post(
        &herald,
        &browser,
        &format!("{page}/redeliver-failed"),
        &since,
    );
    assert_eq!(status, 303);
    assert!(page_html(&herald, &browser, &page).contains("0 failed deliveries queued again."));

    edit(&herald, &browser, &api, &id, &url, &csrf);
    disable_enable_and_rotate(&herald, &browser, &api, &id, &csrf);
    a_member_only_looks(&herald, &id);

    let (status, to, _) = post(&herald, &browser, &format!("{page}/delete"), &token);
    assert_eq!((status, to.as_str()), (303, "/settings/webhooks"));
    assert!(
        api.get("/v1/webhooks")["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(browser.get(herald.url(&page)).send().unwrap().status(), 404);
}

fn edit(herald: &Herald, browser: &Client, api: &Api, id: &str, url: &str, csrf: &str) {
    let page = format!("/settings/webhooks/{id}");
    let mut form = vec![
        ("csrf_token", csrf),
        ("name", "Receiver 2"),
        ("url", url),
        ("events", "*"),
        ("retry_attempts", "1"),
        ("timeout_ms", "50"),
        ("scope", "general"),
        ("header_name_0", "X-Token"),
        ("header_value_0", ""),
    ];
    let (status, _, again) = post(herald, browser, &page, &form);
    assert_eq!(status, 422);
    assert!(
        again.contains("The timeout must be a whole number from 100 to 60000"),
        "{again}"
    );
    assert!(again.contains("value=\"Receiver 2\"") && again.contains("value=\"50\""));
    form[5] = ("timeout_ms", "3000");
    let (status, to, _) = post(herald, browser, &page, &form);
    assert_eq!((status, to.as_str()), (303, page.as_str()));
    let webhook = only_webhook(api);
    assert_eq!(webhook["name"], "Receiver 2");
    assert_eq!(webhook["events"], json!(["*"]));
    assert_eq!(webhook["timeoutMs"], 3000);
    assert_eq!(
        webhook["headers"],
        json!({"X-Token": "toke••••"}),
        "an empty value keeps the stored one"
    );
}

fn disable_enable_and_rotate(herald: &Herald, browser: &Client, api: &Api, id: &str, csrf: &str) {
    let page = format!("/settings/webhooks/{id}");
    let token = [("csrf_token", csrf)];
    assert_eq!(
        post(herald, browser, &format!("{page}/disable"), &token).0,
        303
    );
    assert_eq!(only_webhook(api)["status"], "disabled");
    let shown = page_html(herald, browser, &page);
    assert!(
        shown.contains("Disabled by hand") && shown.contains(&format!("{page}/enable")),
        "{shown}"
    );
    assert_eq!(
        post(herald, browser, &format!("{page}/enable"), &token).0,
        303
    );
    assert_eq!(only_webhook(api)["status"], "active");

    let (status, _, rotated) = post(herald, browser, &format!("{page}/rotate-secret"), &token);
    assert_eq!(status, 200);
    let secret = api.get(&format!("/v1/webhooks/{id}/secret"))["data"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        rotated.contains(&secret) && rotated.contains("previous secret keeps signing"),
        "{rotated}"
    );
    assert!(!page_html(herald, browser, &page).contains(&secret));
}

fn a_member_only_looks(herald: &Herald, id: &str) {
    herald.add_user("member@acme.test", "Acme", "member-password", "member");
    let member = herald.signed_in("member@acme.test", "member-password");
    let page = format!("/settings/webhooks/{id}");
    let index = page_html(herald, &member, "/settings/webhooks");
    assert!(
        index.contains("Receiver 2") && !index.contains("New webhook"),
        "{index}"
    );
    let shown = page_html(herald, &member, &page);
    for button in [
        "Send test event",
        "Delete webhook",
        "Rotate secret",
        "Save webhook",
        "Redeliver failed",
    ] {
        assert!(!shown.contains(button), "a member sees no {button} button");
    }
    let csrf = page_csrf(herald, &member, "/settings");
    let token = [("csrf_token", csrf.as_str())];
    for path in [
        format!("{page}/test"),
        format!("{page}/delete"),
        "/settings/webhooks".to_string(),
    ] {
        assert_eq!(post(herald, &member, &path, &token).0, 403, "POST {path}");
    }
    assert_eq!(
        member
            .get(herald.url("/settings/webhooks/new"))
            .send()
            .unwrap()
            .status(),
        403
    );
}
