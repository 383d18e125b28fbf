//! Settings → Channels in a browser: an owner makes a mailbox through the form (a mistake
//! comes back named), generates its DKIM key and sees the record to publish, makes a
//! token shown once that then sends through `POST /api/integration/generic`, and rotates
//! it; a member sees the pages but no button that changes anything, and is refused if it
//! posts anyway.

use crate::support;

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::json;
use support::smtp::SmtpSink;
use support::{Herald, location, page_csrf, page_html};

const WAIT: Duration = Duration::from_secs(20);

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

/// The token on the page that shows it once.
fn token_in(page: &str) -> String {
    let at = page.find("hc_").expect("the token is shown");
    page[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn send(herald: &Herald, token: &str) -> u16 {
    Client::new()
        .post(herald.url("/api/integration/generic"))
        .bearer_auth(token)
        .json(&json!({"to": "customer@company.com", "subject": "Hi", "body": "Hello"}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn an_owner_sets_up_a_mailbox_in_the_ui_and_a_member_only_looks() {
    let sink = SmtpSink::start();
    let herald =
        Herald::start_with_smtp(sink.port, &[("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0")]);
    let (browser, _api) = herald.owner_signed_in("owner@acme.test", "Acme", "owner-password");
    assert!(page_html(&herald, &browser, "/settings").contains("href=\"/settings/channels\""));
    let csrf = page_csrf(&herald, &browser, "/settings/channels");
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("name", "Support"),
        ("from_name", "Acme Support"),
        ("from_address", "not-an-address"),
        ("reply_to", ""),
        ("rate_per_second", "5"),
        ("smtp_host", ""),
        ("smtp_port", "587"),
        ("smtp_tls", "starttls"),
        ("smtp_username", ""),
        ("smtp_password", ""),
    ];
    let (status, to, _) = post(&herald, &browser, "/settings/channels", &form);
    assert_eq!((status, to.as_str()), (303, "/settings/channels"));
    let index = page_html(&herald, &browser, "/settings/channels");
    assert!(
        index.contains("fromAddress must be an email address"),
        "the mistake is named"
    );
    form[3] = ("from_address", "support@acme.test");
    let (status, page, _) = post(&herald, &browser, "/settings/channels", &form);
    assert_eq!(status, 303);
    assert!(page.starts_with("/settings/channels/ch_"), "{page}");

    let shown = page_html(&herald, &browser, &page);
    assert!(shown.contains("Not signed yet"), "{shown}");
    let (status, _, _) = post(
        &herald,
        &browser,
        &format!("{page}/dkim"),
        &[
            ("csrf_token", &csrf),
            ("selector", "herald"),
            ("algorithm", "ed25519"),
        ],
    );
    assert_eq!(status, 303);
    let shown = page_html(&herald, &browser, &page);
    assert!(shown.contains("herald._domainkey.acme.test"), "{shown}");
    assert!(shown.contains("v=DKIM1; k=ed25519; p="), "{shown}");

    let (status, _, once) = post(
        &herald,
        &browser,
        &format!("{page}/tokens"),
        &[("csrf_token", &csrf), ("name", "Shop")],
    );
    assert_eq!(status, 200);
    let token = token_in(&once);
    assert!(
        !page_html(&herald, &browser, &page).contains(&token),
        "shown once only"
    );
    assert_eq!(send(&herald, &token), 200);
    let mail = sink.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.from, "<support@acme.test>");
    assert!(
        mail.header("DKIM-Signature").is_some(),
        "signed with the new key"
    );

    let (status, _, _) = post(
        &herald,
        &browser,
        &format!("{page}/test"),
        &[("csrf_token", &csrf), ("to", "owner@acme.test")],
    );
    assert_eq!(status, 303);
    let reported = page_html(&herald, &browser, &page);
    assert!(
        reported.contains("Test sent: the server accepted it"),
        "{reported}"
    );
    sink.wait_for(2, WAIT);

    let listed = page_html(&herald, &browser, &page);
    let rotate = listed
        .split("action=\"")
        .find(|s| s.contains("/rotate\""))
        .unwrap();
    let rotate = rotate.split('"').next().unwrap().to_string();
    let (status, _, again) = post(&herald, &browser, &rotate, &[("csrf_token", &csrf)]);
    assert_eq!(status, 200);
    let fresh = token_in(&again);
    assert_eq!(send(&herald, &token), 401, "the old value stops at once");
    assert_eq!(send(&herald, &fresh), 200);

    herald.add_user("member@acme.test", "Acme", "member-password", "member");
    let member = herald.signed_in("member@acme.test", "member-password");
    let seen = page_html(&herald, &member, &page);
    assert!(
        seen.contains("herald._domainkey.acme.test"),
        "a member sees the records"
    );
    for button in [
        "Save",
        "Delete mailbox",
        "New token",
        "Rotate",
        "Generate",
        "Send a test",
    ] {
        assert!(!seen.contains(button), "a member sees no {button} button");
    }
    let member_csrf = page_csrf(&herald, &member, "/settings");
    let (status, _, _) = post(
        &herald,
        &member,
        &format!("{page}/tokens"),
        &[("csrf_token", &member_csrf)],
    );
    assert_eq!(status, 403, "and is refused if it posts anyway");
}
