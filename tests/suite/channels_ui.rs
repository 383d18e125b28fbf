//! Settings → Channels in a browser: an owner makes a mailbox through the form (a mistake
//! comes back named), generates its DKIM key and sees the record to publish, makes a
//! token shown once that then sends through `POST /api/integration/generic`, and rotates
//! it; a member sees the pages but no button that changes anything, and is refused if it
//! posts anyway. The same for an SMS number and a WhatsApp instance: made and edited
//! through their forms (an empty credential keeps the stored one), their pages show the
//! webhook to configure at the provider, and a bad field is named and makes nothing. An
//! SMS text template is written in the editor and keeps its kind.

use crate::support;

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::json;
use support::api::Api;
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

/// The channel id at the end of a channel page's path.
fn id_of(page: &str) -> &str {
    page.rsplit('/').next().unwrap()
}

fn channel_count(api: &Api) -> usize {
    api.get("/api/channels")["channels"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn an_owner_sets_up_sms_and_whatsapp_in_the_ui_and_a_member_only_looks() {
    let herald = Herald::start_with(&[
        ("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0"),
        ("HERALD_SERVER__BASE_URL", "{base}"),
    ]);
    let (browser, api) = herald.owner_signed_in("owner@acme.test", "Acme", "owner-password");
    let csrf = page_csrf(&herald, &browser, "/settings/channels");
    let index = page_html(&herald, &browser, "/settings/channels");
    for form in [
        "New SMS number",
        "New WhatsApp instance",
        "New email mailbox",
    ] {
        assert!(index.contains(form), "the index has a {form} form");
    }

    let auth_token = "twilio-auth-token-0123456789ab";
    let mut sms = vec![
        ("csrf_token", csrf.as_str()),
        ("kind", "sms"),
        ("name", "Codes"),
        ("account_sid", "AC0123456789abcdef0123456789abcdef"),
        ("auth_token", auth_token),
        ("from", "12"),
        ("messaging_service_sid", ""),
        ("base_url", ""),
    ];
    let (status, to, _) = post(&herald, &browser, "/settings/channels", &sms);
    assert_eq!((status, to.as_str()), (303, "/settings/channels"));
    let index = page_html(&herald, &browser, "/settings/channels");
    assert!(
        index.contains("from must be an E.164 number"),
        "the mistake is named"
    );
    assert_eq!(channel_count(&api), 0, "and nothing is made");

    sms[5] = ("from", "+14155550123");
    let (status, sms_page, _) = post(&herald, &browser, "/settings/channels", &sms);
    assert_eq!(status, 303);
    assert!(sms_page.starts_with("/settings/channels/ch_"), "{sms_page}");
    let shown = page_html(&herald, &browser, &sms_page);
    assert!(shown.contains("SMS number Codes created"), "{shown}");

    let whatsapp = [
        ("csrf_token", csrf.as_str()),
        ("kind", "whatsapp"),
        ("name", "Sales"),
        ("phone_number_id", "106540352242922"),
        ("access_token", "EAAG-meta-access-token-0123456789"),
        ("app_secret", "meta-app-secret-0123456789"),
        ("verify_token", ""),
        ("api_version", "v21.0"),
        ("base_url", ""),
    ];
    let (status, wa_page, _) = post(&herald, &browser, "/settings/channels", &whatsapp);
    assert_eq!(status, 303);
    assert!(wa_page.starts_with("/settings/channels/ch_"), "{wa_page}");

    let index = page_html(&herald, &browser, "/settings/channels");
    for listed in [
        "Codes",
        "Sales",
        "<td>sms</td>",
        "<td>whatsapp</td>",
        "+14155550123",
    ] {
        assert!(index.contains(listed), "{listed} is listed: {index}");
    }

    let sms_id = id_of(&sms_page);
    let before = api.get(&format!("/api/channels/{sms_id}"));
    assert_eq!(before["authToken"], "********ab");
    let shown = page_html(&herald, &browser, &sms_page);
    assert!(!shown.contains(auth_token), "the token is not put back");
    assert!(shown.contains("leave empty to keep"), "{shown}");
    let webhook = format!("{}/api/channels/{sms_id}/sms", herald.base);
    assert!(
        shown.contains(&webhook),
        "the webhook to set at Twilio: {shown}"
    );
    assert!(shown.contains("Provider setup") && shown.contains("Opted out"));
    for mailbox_only in ["DKIM", "Send a test"] {
        assert!(!shown.contains(mailbox_only), "no {mailbox_only} for SMS");
    }
    sms[2] = ("name", "Login codes");
    sms[4] = ("auth_token", "");
    sms[5] = ("from", "+14155550124");
    let (status, to, _) = post(&herald, &browser, &sms_page, &sms);
    assert_eq!((status, to.as_str()), (303, sms_page.as_str()));
    let after = api.get(&format!("/api/channels/{sms_id}"));
    assert_eq!(after["name"], "Login codes");
    assert_eq!(after["from"], "+14155550124");
    assert_eq!(after["authToken"], before["authToken"], "the token is kept");
    assert_eq!(after["baseUrl"], "https://api.twilio.com");

    let wa_id = id_of(&wa_page);
    let meta = api.get(&format!("/api/channels/{wa_id}"));
    let verify = meta["verifyToken"].as_str().unwrap().to_string();
    assert!(!verify.is_empty(), "a verify token is made");
    let shown = page_html(&herald, &browser, &wa_page);
    assert!(shown.contains(&format!("{}/api/channels/{wa_id}/whatsapp", herald.base)));
    assert!(
        shown.contains(&verify),
        "the verify token for Meta: {shown}"
    );
    let mut edit = whatsapp.to_vec();
    edit[4] = ("access_token", "");
    edit[5] = ("app_secret", "");
    edit[7] = ("api_version", "v22.0");
    let (status, _, _) = post(&herald, &browser, &wa_page, &edit);
    assert_eq!(status, 303);
    let edited = api.get(&format!("/api/channels/{wa_id}"));
    assert_eq!(edited["apiVersion"], "v22.0");
    for kept in ["accessToken", "appSecret", "verifyToken"] {
        assert_eq!(edited[kept], meta[kept], "{kept} is kept");
    }

    let (status, _, once) = post(
        &herald,
        &browser,
        &format!("{sms_page}/tokens"),
        &[("csrf_token", &csrf), ("name", "Shop")],
    );
    assert_eq!(status, 200);
    let token = token_in(&once);
    let shown = page_html(&herald, &browser, &sms_page);
    assert!(shown.contains("Tokens (1)") && !shown.contains(&token));

    herald.add_user("member@acme.test", "Acme", "member-password", "member");
    let member = herald.signed_in("member@acme.test", "member-password");
    let seen = page_html(&herald, &member, &sms_page);
    assert!(seen.contains(&webhook), "a member sees the webhook");
    assert!(seen.contains("+14155550124"), "and the settings");
    assert!(seen.contains("Shop"), "and the tokens");
    for control in [
        "Save",
        "Delete SMS number",
        "New token",
        "Rotate",
        "name=\"auth_token\"",
    ] {
        assert!(!seen.contains(control), "a member sees no {control}");
    }
    let seen = page_html(&herald, &member, "/settings/channels");
    assert!(!seen.contains("New SMS number") && !seen.contains("New WhatsApp instance"));
    let member_csrf = page_csrf(&herald, &member, "/settings");
    let (status, _, _) = post(
        &herald,
        &member,
        &sms_page,
        &[("csrf_token", &member_csrf), ("name", "Mine")],
    );
    assert_eq!(status, 403, "and is refused if it posts anyway");
}

#[test]
fn an_owner_writes_an_sms_text_template_in_the_editor_and_its_kind_stays() {
    let herald = Herald::start();
    let (browser, api) = herald.owner_signed_in("owner@acme.test", "Acme", "owner-password");
    let page = page_html(&herald, &browser, "/templates/new?kind=sms");
    assert!(page.contains("Text of the SMS"), "{page}");
    assert!(!page.contains("name=\"subject\""), "an SMS has no subject");
    let csrf = page_csrf(&herald, &browser, "/templates/new?kind=sms");
    let (status, _, body) = post(
        &herald,
        &browser,
        "/templates/new",
        &[
            ("csrf_token", &csrf),
            ("op", "save"),
            ("kind", "sms"),
            ("name", "Code"),
            ("text", ""),
        ],
    );
    assert_eq!(status, 422, "an empty text is refused: {body}");
    let (status, to, _) = post(
        &herald,
        &browser,
        "/templates/new",
        &[
            ("csrf_token", &csrf),
            ("op", "save"),
            ("kind", "sms"),
            ("name", "Code"),
            ("text", "Your code is {{variables.code}}"),
        ],
    );
    assert_eq!(status, 303);
    let uid = to.trim_start_matches("/templates/").to_string();
    let stored = api.get(&format!("/api/templates/{uid}"));
    assert_eq!(stored["kind"], "sms", "{stored}");
    // Its edit page is the text editor again, and the API keeps its kind.
    let edit = page_html(&herald, &browser, &to);
    assert!(
        edit.contains("Text of the SMS") && edit.contains("Your code is"),
        "{edit}"
    );
    let r = api.put(
        &format!("/api/templates/{uid}"),
        &json!({"name": "Code", "text": "New {{variables.code}}"}),
    );
    assert_eq!(r.status(), 200);
    let r = api.put(
        &format!("/api/templates/{uid}"),
        &json!({"name": "Code", "kind": "email", "subject": "s", "html": "h"}),
    );
    assert_eq!(r.status(), 400);
    assert_eq!(
        api.get(&format!("/api/templates/{uid}"))["text"],
        "New {{variables.code}}"
    );
}
