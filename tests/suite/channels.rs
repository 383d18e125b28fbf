//! Channels and seed 002's `POST /api/integration/generic`: email mailboxes managed over
//! `/api/channels` with their SMTP password sealed at rest, tokens shown once and rotated,
//! every error code of the generic endpoint, mail arriving at a real SMTP server with the
//! mailbox's sender and the sender's envelope, and workspaces kept apart; the published
//! DKIM record checked against a real DNS exchange with a local name server. Herald runs
//! in this process on a manual clock.

use crate::support;

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::InProcessHerald;
use support::api::{Api, status_and_json, wait_until};
use support::smtp::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

fn start(install: &SmtpSink) -> InProcessHerald {
    InProcessHerald::start_with_smtp(install.port, |config| {
        config.ratelimit.requests_per_second = 0.0;
    })
}

fn mailbox(extra: Value) -> Value {
    let mut body = json!({
        "kind": "email", "name": "Support", "fromName": "Acme Support",
        "fromAddress": "support@acme.test", "replyTo": "help@acme.test",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn create_channel(api: &Api, body: Value) -> Value {
    let (status, answer) = status_and_json(api.post("/api/channels", &body));
    assert_eq!(status, 201, "{answer}");
    answer
}

fn new_token(api: &Api, channel: &str) -> (String, String) {
    let (status, answer) = status_and_json(api.post(
        &format!("/api/channels/{channel}/tokens"),
        &json!({"name": "Shop"}),
    ));
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().unwrap().to_string();
    (answer["id"].as_str().unwrap().to_string(), token)
}

fn generic(herald: &InProcessHerald, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = Client::new()
        .post(herald.url("/api/integration/generic"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    status_and_json(request.send().unwrap())
}

fn seed_email() -> String {
    json!({
        "to": ["customer@company.com"], "subject": "Order confirmation",
        "html": "<p>Thanks for your purchase!</p>", "bcc": ["archive@company.com"],
    })
    .to_string()
}

#[test]
fn a_mailbox_with_its_own_server_sends_the_seeds_email_from_its_address() {
    let install = SmtpSink::start();
    let own = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(
        &api,
        mailbox(
            json!({"smtp": {"host": "127.0.0.1", "port": own.port, "tls": "none",
                                "username": "", "password": "smtp-password-1234"}}),
        ),
    );
    let id = channel["id"].as_str().unwrap();
    assert_eq!(
        channel["smtp"]["password"], "********34",
        "never shown in full"
    );
    let (_, token) = new_token(&api, id);
    assert!(token.starts_with("hc_"));

    let (status, answer) = generic(&herald, Some(&token), &seed_email());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
    let mail = own.wait_for(1, WAIT).remove(0);
    assert!(
        install.messages().is_empty(),
        "the mailbox's own server carries it"
    );
    assert_eq!(mail.from, "<support@acme.test>");
    let mut rcpt = mail.to.clone();
    rcpt.sort();
    assert_eq!(rcpt, ["<archive@company.com>", "<customer@company.com>"]);
    assert!(mail.header("Bcc").is_none(), "bcc is in the envelope only");
    assert_eq!(
        mail.header("From").as_deref(),
        Some("\"Acme Support\" <support@acme.test>")
    );
    assert_eq!(mail.header("Reply-To").as_deref(), Some("help@acme.test"));
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Order confirmation")
    );
    assert!(mail.body().contains("<p>Thanks for your purchase!</p>"));

    let messages = api.get("/api/messages");
    let sent = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == answer["id"])
        .cloned()
        .unwrap_or_else(|| panic!("listed: {messages}"));
    wait_until("the message marked sent", WAIT, || {
        api.get("/api/messages")["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == sent["id"] && m["status"] == "sent")
    });
}

#[test]
fn a_mailbox_without_a_server_uses_the_installs_with_its_own_sender_and_threading() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let (_, token) = new_token(&api, channel["id"].as_str().unwrap());
    let body = json!({
        "to": "customer@company.com", "subject": "Re: your order", "body": "Line one\nLine <two>",
        "fromName": "Ada at Acme", "inReplyTo": "<abc@shop.test>",
        "references": ["<root@shop.test>", "<abc@shop.test>"],
    });
    let (status, answer) = generic(&herald, Some(&token), &body.to_string());
    assert_eq!(status, 200, "{answer}");
    let mail = install.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.from, "<support@acme.test>");
    assert_eq!(
        mail.header("From").as_deref(),
        Some("\"Ada at Acme\" <support@acme.test>")
    );
    assert_eq!(
        mail.header("In-Reply-To").as_deref(),
        Some("<abc@shop.test>")
    );
    assert_eq!(
        mail.header("References").as_deref(),
        Some("<root@shop.test> <abc@shop.test>")
    );
    let text = mail.body();
    assert!(text.contains("Line one"), "{text}");
    assert!(
        text.contains("Line &lt;two&gt;"),
        "the HTML part escapes the text: {text}"
    );
}

#[test]
fn every_error_code_of_the_generic_endpoint() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let id = channel["id"].as_str().unwrap();
    let (token_id, token) = new_token(&api, id);

    let (status, answer) = generic(&herald, None, &seed_email());
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("ERR_NO_PERMISSION"))
    );
    let (status, answer) = generic(&herald, Some("hc_not-a-token"), &seed_email());
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("ERR_NO_PERMISSION"))
    );

    let bad = json!({"to": ["customer@company.com", "not an address"], "html": 5, "extra": 1});
    let (status, answer) = generic(&herald, Some(&token), &bad.to_string());
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "VALIDATION_ERROR");
    let fields: Vec<&str> = answer["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    for field in ["to[1]", "subject", "html", "extra"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let (status, answer) = generic(&herald, Some(&token), "{not json");
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let (status, answer) = generic(&herald, Some(&token), r#"{"to":"a@b.test","subject":"s"}"#);
    assert_eq!(status, 400);
    assert_eq!(answer["details"][0]["field"], "body", "{answer}");

    let legacy = json!({"channelType": "email", "to": "a@b.test", "subject": "s", "body": "b"});
    let (status, answer) = generic(&herald, Some(&token), &legacy.to_string());
    assert_eq!((status, answer["error"].as_str()), (410, Some("GONE")));
    let r = Client::new()
        .post(herald.url("/api/integration/send"))
        .header("authorization", format!("Bearer {token}"))
        .body(seed_email())
        .send()
        .unwrap();
    assert_eq!(status_and_json(r).0, 410);

    // Rotation: the old value stops at once, the new one works.
    let (status, rotated) = status_and_json(api.post(
        &format!("/api/channels/{id}/tokens/{token_id}/rotate"),
        &json!({}),
    ));
    assert_eq!(status, 200, "{rotated}");
    let fresh = rotated["token"].as_str().unwrap();
    assert_eq!(generic(&herald, Some(&token), &seed_email()).0, 401);
    assert_eq!(generic(&herald, Some(fresh), &seed_email()).0, 200);

    // Deleting the channel leaves the token answering 404 CHANNEL_NOT_FOUND.
    assert_eq!(api.delete(&format!("/api/channels/{id}")).status(), 204);
    let (status, answer) = generic(&herald, Some(fresh), &seed_email());
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("CHANNEL_NOT_FOUND"))
    );
    assert_eq!(
        herald.query::<i64>("SELECT COUNT(*) FROM messages"),
        1,
        "nothing was written for a refused send"
    );
}

#[test]
fn the_smtp_password_is_sealed_at_rest_and_kept_when_an_update_leaves_it_out() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(
        &api,
        mailbox(json!({"smtp": {"host": "smtp.acme.test", "password": "hunter2-hunter2"}})),
    );
    let id = channel["id"].as_str().unwrap();
    let stored: String = herald.query("SELECT settings || credentials FROM channels");
    assert!(!stored.contains("hunter2"), "{stored}");
    let key = herald.data_dir().join("herald.key");
    assert!(key.exists(), "the key lives beside the database, not in it");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (status, updated) = status_and_json(api.patch(
        &format!("/api/channels/{id}"),
        &json!({"name": "Help desk", "smtp": {"port": 2525}}),
    ));
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Help desk");
    assert_eq!(updated["smtp"]["port"], 2525);
    assert_eq!(updated["smtp"]["host"], "smtp.acme.test");
    assert_eq!(updated["smtp"]["password"], "********r2", "still set");

    for (body, field) in [
        (
            json!({"kind": "email", "name": "X", "fromAddress": "nope"}),
            "fromAddress",
        ),
        (
            json!({"kind": "fax", "name": "X", "fromAddress": "a@b.test"}),
            "kind",
        ),
        (
            mailbox(json!({"smtp": {"host": "h", "port": 0}})),
            "smtp.port",
        ),
        (
            mailbox(json!({"smtp": {"host": "h", "tls": "ssl3"}})),
            "smtp.tls",
        ),
        (mailbox(json!({"ratePerSecond": -1})), "ratePerSecond"),
    ] {
        let (status, answer) = status_and_json(api.post("/api/channels", &body));
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{answer}");
    }
}

#[test]
fn another_workspace_sees_none_of_a_workspaces_channels_or_tokens() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let acme = Api::new(&herald, "Acme");
    let other = Api::new(&herald, "Other");
    let channel = create_channel(&acme, mailbox(json!({})));
    let id = channel["id"].as_str().unwrap();
    let (token_id, _) = new_token(&acme, id);
    assert_eq!(other.get("/api/channels")["channels"], json!([]));
    assert_eq!(
        other.get_response(&format!("/api/channels/{id}")).status(),
        404
    );
    assert_eq!(
        other
            .patch(&format!("/api/channels/{id}"), &json!({"name": "Mine"}))
            .status(),
        404
    );
    assert_eq!(
        other
            .post(&format!("/api/channels/{id}/tokens"), &json!({}))
            .status(),
        404
    );
    assert_eq!(
        other
            .post(
                &format!("/api/channels/{id}/tokens/{token_id}/rotate"),
                &json!({})
            )
            .status(),
        404
    );
    assert_eq!(other.delete(&format!("/api/channels/{id}")).status(), 404);
    let listed = acme.get(&format!("/api/channels/{id}"));
    assert_eq!(listed["name"], "Support", "untouched");
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
    assert!(listed["tokens"][0].get("token").is_none(), "never listed");
}

fn sign_with(api: &Api, channel: &str, body: Value) -> Value {
    let (status, answer) =
        status_and_json(api.post(&format!("/api/channels/{channel}/dkim"), &body));
    assert_eq!(status, 200, "{answer}");
    answer["dns"]["dkim"].clone()
}

#[test]
fn mail_is_signed_with_the_mailboxs_dkim_key_and_dkimpy_verifies_it() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let id = channel["id"].as_str().unwrap();
    let (_, token) = new_token(&api, id);
    let mut sent = 0;
    for (algorithm, selector) in [("ed25519", "ed2026"), ("rsa", "herald")] {
        let record = sign_with(
            &api,
            id,
            json!({"algorithm": algorithm, "selector": selector}),
        );
        assert_eq!(record["name"], format!("{selector}._domainkey.acme.test"));
        let value = record["value"].as_str().unwrap();
        assert!(
            value.starts_with(&format!("v=DKIM1; k={algorithm}; p=")),
            "{value}"
        );
        let shown = api.get(&format!("/api/channels/{id}")).to_string();
        assert!(
            !shown.contains("PRIVATE KEY"),
            "the private key is never shown"
        );

        let (status, answer) = generic(&herald, Some(&token), &seed_email());
        assert_eq!(status, 200, "{answer}");
        sent += 1;
        let mail = install.wait_for(sent, WAIT).remove(sent - 1);
        let signature = mail.header("DKIM-Signature").expect("signed");
        assert!(
            signature.contains(&format!("a={algorithm}-sha256")),
            "{signature}"
        );
        assert!(signature.contains(&format!("s={selector}")), "{signature}");
        assert!(signature.contains("d=acme.test"), "{signature}");
        let h = signature
            .split("h=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_lowercase();
        for header in ["from", "subject", "date", "message-id", "to"] {
            assert!(
                h.split(':').any(|x| x.trim() == header),
                "{header} in h={h}"
            );
        }
        let name = record["name"].as_str().unwrap();
        if let Some(ok) = support::dkim_verify::verifies(&mail.data, name, value) {
            assert!(ok, "dkimpy verifies the {algorithm} signature");
            let altered =
                mail.data
                    .replacen("Thanks for your purchase", "Thanks for your purchasf", 1);
            assert_eq!(
                support::dkim_verify::verifies(&altered, name, value),
                Some(false),
                "an altered body fails"
            );
        }
    }
    let (status, answer) = status_and_json(api.post(
        &format!("/api/channels/{id}/dkim"),
        &json!({"algorithm": "rsa", "privateKey": "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"}),
    ));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["details"]["field"], "privateKey");
}

#[test]
fn send_a_test_reports_what_the_server_said() {
    let install = SmtpSink::start();
    let own = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let good = create_channel(
        &api,
        mailbox(json!({"smtp": {"host": "127.0.0.1", "port": own.port, "tls": "none"}})),
    );
    let (status, answer) = status_and_json(api.post(
        &format!("/api/channels/{}/test", good["id"].as_str().unwrap()),
        &json!({"to": "owner@acme.test"}),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("accepted"),
        "{answer}"
    );
    let mail = own.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.to, ["<owner@acme.test>"]);

    let closed = support::free_port();
    let bad = create_channel(
        &api,
        mailbox(
            json!({"name": "Broken", "smtp": {"host": "127.0.0.1", "port": closed, "tls": "none"}}),
        ),
    );
    let (status, answer) = status_and_json(api.post(
        &format!("/api/channels/{}/test", bad["id"].as_str().unwrap()),
        &json!({"to": "owner@acme.test"}),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("temporary failure"),
        "{answer}"
    );
    let (status, _) = status_and_json(api.post(
        &format!("/api/channels/{}/test", bad["id"].as_str().unwrap()),
        &json!({"to": "nobody"}),
    ));
    assert_eq!(status, 400);
}

#[test]
fn an_automations_email_step_sends_from_the_mailbox_it_names() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let id = channel["id"].as_str().unwrap();
    sign_with(&api, id, json!({"algorithm": "ed25519"}));
    let template = api.post_ok(
        "/api/templates",
        &json!({"name": "Welcome", "subject": "Welcome", "html": "<p>Hi</p>"}),
    );
    let automation = |channel: &str| {
        json!({"name": "Welcome", "status": "active", "trigger": {"type": "event", "event": "signUp"},
               "steps": [{"type": "email", "template": template["id"], "channel": channel}]})
    };
    let (status, answer) = status_and_json(api.post("/api/automations", &automation("ch_nope")));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("no email channel"),
        "{answer}"
    );
    let (status, answer) = status_and_json(api.post("/api/automations", &automation(id)));
    assert_eq!(status, 201, "{answer}");
    let r = api.post(
        "/api/events/send",
        &json!({"email": "ada@example.com", "eventName": "signUp"}),
    );
    assert_eq!(r.status(), 200);
    let mail = install.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.from, "<support@acme.test>");
    assert_eq!(mail.header("Reply-To").as_deref(), Some("help@acme.test"));
    assert!(
        mail.header("DKIM-Signature")
            .unwrap()
            .contains("d=acme.test")
    );
    assert!(
        mail.header("List-Unsubscribe").is_some(),
        "still marketing mail"
    );
}

#[test]
fn a_transactional_send_from_a_template_is_idempotent() {
    let install = SmtpSink::start();
    let herald = start(&install);
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let template = api.post_ok(
        "/api/templates",
        &json!({"name": "Receipt", "subject": "Receipt {{variables.order}}",
                "html": "<p>Order {{variables.order}} for {{contact.email}}</p>"}),
    );
    let body = json!({"template": template["id"], "to": "buyer@example.com",
                      "channel": channel["id"], "variables": {"order": "A-17"}});
    let send = || {
        let r = api
            .request("POST", "/api/v1/messages")
            .header("Idempotency-Key", "order-A-17")
            .json(&body)
            .send()
            .unwrap();
        let replayed = r.headers().contains_key("idempotent-replayed");
        let (status, answer) = status_and_json(r);
        (status, answer, replayed)
    };
    let (status, first, replayed) = send();
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = send();
    assert_eq!((status, replayed), (201, true));
    assert_eq!(
        again["id"], first["id"],
        "the same message, not a second one"
    );
    let mail = install.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.from, "<support@acme.test>");
    assert_eq!(mail.header("Subject").as_deref(), Some("Receipt A-17"));
    assert!(mail.body().contains("Order A-17 for buyer@example.com"));
    assert!(
        mail.header("List-Unsubscribe").is_none(),
        "transactional mail"
    );
    wait_until("it is marked sent", WAIT, || {
        api.get("/api/messages?status=sent")["messages"]
            .as_array()
            .unwrap()
            .len()
            == 1
    });
    assert_eq!(herald.query::<i64>("SELECT COUNT(*) FROM messages"), 1);

    for (bad, field) in [
        (json!({"to": "a@b.test"}), "template"),
        (json!({"template": template["id"]}), "to"),
        (
            json!({"template": "tpl_nope", "to": "a@b.test"}),
            "template",
        ),
        (
            json!({"template": template["id"], "to": "a@b.test", "channel": "ch_nope"}),
            "channel",
        ),
        (
            json!({"template": template["id"], "contactId": "nope"}),
            "contactId",
        ),
    ] {
        let (status, answer) = status_and_json(api.post("/api/v1/messages", &bad));
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{answer}");
    }
}

#[test]
fn the_published_dkim_record_is_checked_against_dns_on_demand() {
    let dns = support::dns::FakeDns::start();
    let install = SmtpSink::start();
    let server = dns.addr.to_string();
    let herald = InProcessHerald::start_with_smtp(install.port, |config| {
        config.ratelimit.requests_per_second = 0.0;
        config.dns.servers = vec![server];
    });
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let id = channel["id"].as_str().unwrap();
    let check = || status_and_json(api.post(&format!("/api/channels/{id}/dkim/check"), &json!({})));
    let (status, answer) = check();
    assert_eq!(status, 400, "no key yet: {answer}");

    let record = sign_with(&api, id, json!({"algorithm": "rsa", "selector": "s1"}));
    let name = record["name"].as_str().unwrap();
    assert_eq!(name, "s1._domainkey.acme.test");
    let (status, answer) = check();
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("missing")),
        "{answer}"
    );

    dns.set_txt(
        name,
        &["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAold"],
    );
    let (_, answer) = check();
    assert_eq!(answer["status"], "mismatch", "{answer}");
    assert!(
        answer["found"][0].as_str().unwrap().contains("AQEAold"),
        "{answer}"
    );

    // The real record, longer than one 255-byte DNS string: read back whole.
    let value = record["value"].as_str().unwrap();
    assert!(value.len() > 255);
    dns.set_txt(name, &["v=spf1 -all", value]);
    let (_, answer) = check();
    assert_eq!(answer["status"], "ok", "{answer}");

    // An SMS channel has no DKIM to check.
    let other = create_channel(
        &api,
        json!({"kind": "sms", "name": "Codes", "accountSid": "AC1", "authToken": "t", "from": "+15005550006"}),
    );
    let sms = other["id"].as_str().unwrap();
    let (status, _) =
        status_and_json(api.post(&format!("/api/channels/{sms}/dkim/check"), &json!({})));
    assert_eq!(status, 400);
}

#[test]
fn an_unreachable_name_server_is_reported_not_waited_on_forever() {
    let install = SmtpSink::start();
    // Nothing answers on this port: the check gives up after its timeout.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let herald = InProcessHerald::start_with_smtp(install.port, |config| {
        config.ratelimit.requests_per_second = 0.0;
        config.dns.servers = vec![closed.to_string()];
    });
    let api = Api::new(&herald, "Acme");
    let channel = create_channel(&api, mailbox(json!({})));
    let id = channel["id"].as_str().unwrap();
    sign_with(&api, id, json!({"algorithm": "ed25519"}));
    let started = std::time::Instant::now();
    let (status, answer) =
        status_and_json(api.post(&format!("/api/channels/{id}/dkim/check"), &json!({})));
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("unreachable")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the check's timeout"
    );
}
