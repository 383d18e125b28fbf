//! SMS and WhatsApp channels end to end: seed 002's SMS and WhatsApp payloads through
//! `POST /api/integration/generic` reach local stand-ins that speak Twilio's Messages API
//! and Meta's WhatsApp Cloud API; the providers' error answers become the seed's 402 and
//! 502; status callbacks and webhooks, signed as the providers sign them, move messages to
//! delivered / read / failed; STOP opts a number out of the channel and START lets it back
//! in; nothing unsigned is believed, and one channel's webhooks cannot touch another's
//! messages. Herald runs in this process.

use crate::support;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::InProcessHerald;
use support::api::{Api, status_and_json};
use support::twilio::{FakeTwilio, TwilioMode};
use support::whatsapp::{FakeWhatsApp, WhatsAppMode};

const APP_SECRET: &str = "meta-app-secret-for-tests";

fn start() -> InProcessHerald {
    InProcessHerald::start_with(|config| {
        config.ratelimit.requests_per_second = 0.0;
        // The stand-ins listen on loopback.
        config.webhooks.allow_private_targets = true;
    })
}

fn created(api: &Api, body: Value) -> Value {
    let (status, answer) = status_and_json(api.post("/api/channels", &body));
    assert_eq!(status, 201, "{answer}");
    answer
}

fn sms_channel(api: &Api, twilio: &FakeTwilio) -> Value {
    created(
        api,
        json!({
            "kind": "sms", "name": "Codes", "accountSid": twilio.account_sid(),
            "authToken": twilio.auth_token(), "from": "+15005550006",
            "baseUrl": twilio.base_url(),
        }),
    )
}

fn whatsapp_channel(api: &Api, meta: &FakeWhatsApp) -> Value {
    created(
        api,
        json!({
            "kind": "whatsapp", "name": "Sales", "phoneNumberId": meta.phone_number_id(),
            "accessToken": meta.access_token(), "appSecret": APP_SECRET,
            "baseUrl": meta.base_url(),
        }),
    )
}

fn token(api: &Api, channel: &Value) -> String {
    let id = channel["id"].as_str().unwrap();
    let (status, answer) = status_and_json(api.post(
        &format!("/api/channels/{id}/tokens"),
        &json!({"name": "App"}),
    ));
    assert_eq!(status, 201, "{answer}");
    answer["token"].as_str().unwrap().to_string()
}

fn generic(herald: &InProcessHerald, token: &str, body: Value) -> (u16, Value) {
    status_and_json(
        Client::new()
            .post(herald.url("/api/integration/generic"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap(),
    )
}

fn message(api: &Api, id: &str) -> Value {
    let all = api.get("/api/messages");
    all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("message {id} not listed: {all}"))
}

#[test]
fn the_seeds_sms_goes_out_through_twilio_and_its_status_callbacks_are_believed_when_signed() {
    let twilio = FakeTwilio::start();
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let channel = sms_channel(&api, &twilio);
    assert!(
        channel["authToken"]
            .as_str()
            .unwrap()
            .starts_with("********")
    );
    assert!(
        !channel.to_string().contains(twilio.auth_token()),
        "{channel}"
    );
    let webhook = channel["webhookUrl"].as_str().unwrap().to_string();
    assert!(
        webhook.starts_with(&herald.url("/api/channels/")),
        "{webhook}"
    );
    let token = token(&api, &channel);
    // Someone subscribes to what happens to messages.
    let (status, hook) = status_and_json(api.post(
        "/v1/webhooks",
        &json!({"name": "CRM", "url": "https://crm.example.com/hooks", "events": ["message.*"]}),
    ));
    assert_eq!(status, 201, "{hook}");

    let (status, answer) = generic(
        &herald,
        &token,
        json!({"to": "+5511999999999", "body": "Your code: 123456"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["status"], "sent");
    assert_eq!(answer["to"], "+5511999999999");
    assert_eq!(answer["channel"]["type"], "sms");
    let sid = answer["providerId"].as_str().unwrap().to_string();
    let sent = twilio.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, sid);
    assert_eq!(sent[0].to, "+5511999999999");
    assert_eq!(sent[0].from.as_deref(), Some("+15005550006"));
    assert_eq!(sent[0].body.as_deref(), Some("Your code: 123456"));
    assert_eq!(sent[0].status_callback.as_deref(), Some(webhook.as_str()));

    let id = answer["id"].as_str().unwrap();
    let row = message(&api, id);
    assert_eq!(
        (row["channel"].as_str(), row["status"].as_str()),
        (Some("sms"), Some("sent"))
    );

    assert_eq!(twilio.send_status_callback(&sid, "delivered", None), 200);
    assert_eq!(message(&api, id)["providerStatus"], "delivered");
    let fired: String = herald.query(
        "SELECT COALESCE(group_concat(event_type, ' '), '') FROM (SELECT event_type FROM webhook_messages ORDER BY id)",
    );
    assert_eq!(fired, "message.queued message.sent message.delivered");
    // A late "sent" does not move it back.
    assert_eq!(twilio.send_status_callback(&sid, "sent", None), 200);
    assert_eq!(message(&api, id)["providerStatus"], "delivered");
    let history: Vec<String> = message(&api, id)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["status"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("provider {}", e["providerStatus"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(
        history,
        [
            "queued",
            "sending",
            "provider queued",
            "sent",
            "provider delivered"
        ],
        "every step, in order, a late one left out"
    );

    // Unsigned, or signed with another token: refused, nothing changes.
    let forged = Client::new()
        .post(&webhook)
        .header("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "failed")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);
    let unsigned = Client::new()
        .post(&webhook)
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "failed")])
        .send()
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(message(&api, id)["status"], "sent");

    // An undelivered message fails with the provider's code.
    let (_, second) = generic(
        &herald,
        &token,
        json!({"to": "+5511988887777", "body": "Hi"}),
    );
    let second_sid = second["providerId"].as_str().unwrap();
    assert_eq!(
        twilio.send_status_callback(second_sid, "undelivered", Some("30003")),
        200
    );
    let failed = message(&api, second["id"].as_str().unwrap());
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["reason"].as_str().unwrap().contains("30003"),
        "{failed}"
    );
}

#[test]
fn twilio_errors_answer_the_seeds_codes_and_leave_the_message_failed_with_the_reason() {
    let twilio = FakeTwilio::start();
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let token = token(&api, &sms_channel(&api, &twilio));

    let (status, answer) = generic(&herald, &token, json!({"to": "5511999999999", "body": ""}));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "VALIDATION_ERROR");
    let fields: Vec<&str> = answer["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["to", "body"]);
    let long = "x".repeat(1601);
    let (status, _) = generic(
        &herald,
        &token,
        json!({"to": "+5511999999999", "body": long}),
    );
    assert_eq!(status, 400);
    // An email payload is not an SMS.
    let (status, answer) = generic(
        &herald,
        &token,
        json!({"to": ["a@b.test"], "subject": "x", "html": "y"}),
    );
    assert_eq!(status, 400, "{answer}");

    twilio.set_mode(TwilioMode::NoCredit);
    let (status, answer) = generic(
        &herald,
        &token,
        json!({"to": "+5511999999999", "body": "A"}),
    );
    assert_eq!(status, 402, "{answer}");
    assert_eq!(answer["error"], "PROVIDER_ERROR");
    let no_credit = message_by_body(&api, "failed");
    assert_eq!(no_credit.len(), 1, "{no_credit:?}");

    twilio.set_mode(TwilioMode::Down(503));
    let (status, answer) = generic(
        &herald,
        &token,
        json!({"to": "+5511999999999", "body": "B"}),
    );
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"], "PROVIDER_ERROR");
    assert_eq!(answer["retryable"], true);
    let failed = message_by_body(&api, "failed");
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|m| m["reason"].as_str().is_some_and(|r| !r.is_empty()))
    );

    // A bad number is the provider refusing it: 502 with its code, not retried.
    twilio.set_mode(TwilioMode::Normal);
    let (status, answer) = generic(&herald, &token, json!({"to": "+1555", "body": "C"}));
    assert_eq!(status, 400, "too short for E.164: {answer}");
    assert_eq!(twilio.messages().len(), 0);
}

fn message_by_body(api: &Api, status: &str) -> Vec<Value> {
    api.get(&format!("/api/messages?status={status}"))["messages"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn stop_opts_a_number_out_of_the_channel_and_start_lets_it_back_in() {
    let twilio = FakeTwilio::start();
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let channel = sms_channel(&api, &twilio);
    let webhook = channel["webhookUrl"].as_str().unwrap().to_string();
    let token = token(&api, &channel);
    let body = json!({"to": "+5511999999999", "body": "Sale today"});

    assert_eq!(
        twilio.send_inbound(&webhook, "+5511999999999", "+15005550006", "Stop", None),
        200
    );
    let (status, answer) = generic(&herald, &token, body.clone());
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["details"][0]["field"], "to");
    assert!(
        answer["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("STOP"),
        "{answer}"
    );
    assert_eq!(twilio.messages().len(), 0);
    let id = channel["id"].as_str().unwrap();
    assert_eq!(api.get(&format!("/api/channels/{id}"))["optedOut"], 1);
    // Another number still gets texts.
    let (status, _) = generic(
        &herald,
        &token,
        json!({"to": "+5511911112222", "body": "Sale"}),
    );
    assert_eq!(status, 200);

    // Twilio's Advanced Opt-Out reports START; the number hears from the channel again.
    assert_eq!(
        twilio.send_inbound(
            &webhook,
            "+5511999999999",
            "+15005550006",
            "start",
            Some("START")
        ),
        200
    );
    let (status, answer) = generic(&herald, &token, body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(api.get(&format!("/api/channels/{id}"))["optedOut"], 0);
}

#[test]
fn the_seeds_whatsapp_message_goes_out_with_its_file_and_meta_webhooks_move_it_to_read() {
    let meta = FakeWhatsApp::start();
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let channel = whatsapp_channel(&api, &meta);
    assert!(
        !channel.to_string().contains(meta.access_token()),
        "{channel}"
    );
    assert!(!channel.to_string().contains(APP_SECRET), "{channel}");
    let webhook = channel["webhookUrl"].as_str().unwrap().to_string();
    let token = token(&api, &channel);

    let (status, answer) = generic(
        &herald,
        &token,
        json!({
            "name": "WhatsApp Lead", "number": "5511999999999",
            "message": "I want to talk to sales", "email": "lead@company.com",
            "url": "https://landing.com/?utm_source=meta",
            "files": ["https://landing.com/deck.pdf"], "sector": "12"
        }),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["number"], "5511999999999");
    let sent = meta.messages();
    assert_eq!(sent.len(), 2, "the text, then the file");
    assert_eq!(sent[0].kind, "text");
    assert_eq!(sent[0].payload["text"]["body"], "I want to talk to sales");
    assert_eq!(sent[1].kind, "document");
    assert_eq!(
        sent[1].payload["document"]["link"],
        "https://landing.com/deck.pdf"
    );
    let wamid = answer["providerId"].as_str().unwrap().to_string();
    assert_eq!(wamid, sent[0].id);

    let id = answer["id"].as_str().unwrap();
    assert_eq!(
        meta.send_status_webhook(&webhook, APP_SECRET, &wamid, "delivered", None),
        200
    );
    assert_eq!(
        meta.send_status_webhook(&webhook, APP_SECRET, &wamid, "read", None),
        200
    );
    assert_eq!(message(&api, id)["providerStatus"], "read");
    // Signed with another secret: refused.
    assert_eq!(
        meta.send_status_webhook(&webhook, "not-the-secret", &wamid, "failed", None),
        403
    );
    assert_eq!(message(&api, id)["status"], "sent");

    // Meta's subscription check answers the challenge only for the verify token.
    let verify = channel["verifyToken"].as_str().unwrap();
    let ok = Client::new()
        .get(format!(
            "{webhook}?hub.mode=subscribe&hub.verify_token={verify}&hub.challenge=8812"
        ))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().unwrap(), "8812");
    let wrong = Client::new()
        .get(format!(
            "{webhook}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=8812"
        ))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 403);

    // STOP from the number opts it out of this channel.
    assert_eq!(
        meta.send_inbound_text(&webhook, APP_SECRET, "5511999999999", "STOP"),
        200
    );
    let (status, answer) = generic(
        &herald,
        &token,
        json!({"number": "5511999999999", "message": "hi"}),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["details"][0]["field"], "number");

    meta.set_mode(WhatsAppMode::NoCredit);
    let (status, answer) = generic(
        &herald,
        &token,
        json!({"number": "5511900000000", "message": "hi"}),
    );
    assert_eq!(status, 402, "{answer}");
    meta.set_mode(WhatsAppMode::Down);
    let (status, answer) = generic(
        &herald,
        &token,
        json!({"number": "5511900000000", "message": "hi"}),
    );
    assert_eq!(status, 502, "{answer}");
}

#[test]
fn a_channels_webhook_cannot_touch_another_workspaces_messages() {
    let twilio = FakeTwilio::start();
    let herald = start();
    let acme = Api::new(&herald, "Acme");
    let globex = Api::new(&herald, "Globex");
    let acme_channel = sms_channel(&acme, &twilio);
    let globex_channel = sms_channel(&globex, &twilio);
    let (_, sent) = generic(
        &herald,
        &token(&globex, &globex_channel),
        json!({"to": "+5511999999999", "body": "Globex"}),
    );
    let sid = sent["providerId"].as_str().unwrap();
    // Validly signed (the same Twilio account backs both), but posted to Acme's channel.
    let acme_hook = acme_channel["webhookUrl"].as_str().unwrap();
    let params = [
        ("MessageSid".to_string(), sid.to_string()),
        ("MessageStatus".to_string(), "failed".to_string()),
    ];
    let signature =
        herald::channels::providers::twilio::signature(twilio.auth_token(), acme_hook, &params);
    let answer = Client::new()
        .post(acme_hook)
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        message(&globex, sent["id"].as_str().unwrap())["status"],
        "sent"
    );
    assert!(
        acme.get("/api/messages")["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Neither workspace sees the other's channel.
    let other = globex_channel["id"].as_str().unwrap();
    assert_eq!(
        acme.get_response(&format!("/api/channels/{other}"))
            .status(),
        404
    );
}

#[test]
fn channel_settings_are_checked_field_by_field() {
    let herald = start();
    let api = Api::new(&herald, "Acme");
    for (body, field) in [
        (
            json!({"kind": "sms", "name": "x", "authToken": "t", "from": "+15005550006"}),
            "accountSid",
        ),
        (
            json!({"kind": "sms", "name": "x", "accountSid": "AC1", "from": "+15005550006"}),
            "authToken",
        ),
        (
            json!({"kind": "sms", "name": "x", "accountSid": "AC1", "authToken": "t"}),
            "from",
        ),
        (
            json!({"kind": "sms", "name": "x", "accountSid": "AC1", "authToken": "t", "from": "12"}),
            "from",
        ),
        (
            json!({"kind": "sms", "name": "x", "accountSid": "AC1", "authToken": "t", "from": "+15005550006", "baseUrl": "ftp://x"}),
            "baseUrl",
        ),
        (
            json!({"kind": "sms", "name": "x", "accountSid": "AC1", "authToken": "t", "from": "+15005550006", "fromAddress": "a@b.c"}),
            "fromAddress",
        ),
        (
            json!({"kind": "whatsapp", "name": "x", "accessToken": "t"}),
            "phoneNumberId",
        ),
        (
            json!({"kind": "whatsapp", "name": "x", "phoneNumberId": "12a", "accessToken": "t"}),
            "phoneNumberId",
        ),
        (
            json!({"kind": "whatsapp", "name": "x", "phoneNumberId": "12", "accessToken": "t", "apiVersion": "21"}),
            "apiVersion",
        ),
        (json!({"kind": "fax", "name": "x"}), "kind"),
    ] {
        let (status, answer) = status_and_json(api.post("/api/channels", &body));
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{body}: {answer}");
    }
    // An update that leaves the token out keeps it.
    let made = created(
        &api,
        json!({"kind": "sms", "name": "x", "accountSid": "AC1", "authToken": "secret-token-123456", "from": "Acme"}),
    );
    let id = made["id"].as_str().unwrap();
    let (status, updated) = status_and_json(api.patch(
        &format!("/api/channels/{id}"),
        &json!({"from": "+15005550006"}),
    ));
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["authToken"], made["authToken"]);
    let sealed: String = herald.query("SELECT credentials FROM channels WHERE kind = 'sms'");
    assert!(!sealed.contains("secret-token-123456"));
}

#[test]
fn an_automations_sms_step_texts_the_contacts_phone_from_an_sms_template() {
    let twilio = FakeTwilio::start();
    let herald = start();
    let api = Api::new(&herald, "Acme");
    let channel = sms_channel(&api, &twilio);
    let mailbox = created(
        &api,
        json!({"kind": "email", "name": "Support", "fromAddress": "support@acme.test"}),
    );
    let (status, answer) = status_and_json(api.post(
        "/api/templates",
        &json!({"name": "Too long", "kind": "sms", "text": "x".repeat(1601)}),
    ));
    assert_eq!(status, 400, "{answer}");
    let text = api.post_ok(
        "/api/templates",
        &json!({"name": "Welcome text", "kind": "sms", "text": "Hi {{contact.firstName}}, welcome!"}),
    );
    assert_eq!(text["kind"], "sms");
    let email = api.post_ok(
        "/api/templates",
        &json!({"name": "Welcome", "subject": "Welcome", "html": "<p>Hi</p>"}),
    );
    let automation = |template: &Value, channel: &Value| {
        json!({"name": "Welcome", "status": "active", "trigger": {"type": "event", "event": "signUp"},
               "steps": [{"type": "sms", "template": template["id"], "channel": channel["id"]}]})
    };
    for (template, channel, says) in [
        (&email, &channel, "is an email template"),
        (&text, &mailbox, "no sms channel"),
    ] {
        let (status, answer) =
            status_and_json(api.post("/api/automations", &automation(template, channel)));
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (status, answer) =
        status_and_json(api.post("/api/automations", &automation(&text, &channel)));
    assert_eq!(status, 201, "{answer}");

    let (status, answer) = status_and_json(api.post(
        "/api/contacts",
        &json!({"email": "ada@example.com", "firstName": "Ada", "phone": "+5511999999999"}),
    ));
    assert!(status == 200 || status == 201, "{answer}");
    let r = api.post(
        "/api/events/send",
        &json!({"email": "ada@example.com", "eventName": "signUp"}),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let sent = twilio.wait_for(1, std::time::Duration::from_secs(20));
    assert_eq!(sent[0].to, "+5511999999999");
    assert_eq!(sent[0].body.as_deref(), Some("Hi Ada, welcome!"));
    assert_eq!(
        sent[0].status_callback.as_deref(),
        channel["webhookUrl"].as_str()
    );

    // Without a phone number the step is skipped, and nothing is texted.
    let r = api.post(
        "/api/events/send",
        &json!({"email": "bob@example.com", "eventName": "signUp"}),
    );
    assert_eq!(r.status(), 200);
    support::api::wait_until(
        "the step to be skipped",
        std::time::Duration::from_secs(20),
        || {
            herald.query::<i64>(
            "SELECT COUNT(*) FROM enrollment_steps WHERE step_type = 'sms' AND outcome = 'skipped'",
        ) == 1
        },
    );
    assert_eq!(twilio.messages().len(), 1);

    // One transactional text from the template, to a bare number or to a contact.
    let send = |body: Value| status_and_json(api.post("/api/v1/messages", &body));
    let (status, answer) =
        send(json!({"template": text["id"], "to": "5511", "channel": channel["id"]}));
    assert_eq!(
        (status, answer["details"]["field"].as_str()),
        (400, Some("to")),
        "{answer}"
    );
    let (status, answer) =
        send(json!({"template": email["id"], "to": "+5511977776666", "channel": channel["id"]}));
    assert_eq!(
        (status, answer["details"]["field"].as_str()),
        (400, Some("template")),
        "{answer}"
    );
    let (status, answer) =
        send(json!({"template": text["id"], "to": "+5511977776666", "channel": channel["id"]}));
    assert_eq!(status, 201, "{answer}");
    let sent = twilio.wait_for(2, std::time::Duration::from_secs(20));
    assert_eq!(sent[1].to, "+5511977776666");
    assert_eq!(sent[1].body.as_deref(), Some("Hi , welcome!"));
}

#[test]
fn the_messages_page_and_api_list_every_channel_and_filter_by_one() {
    let twilio = FakeTwilio::start();
    let herald = start();
    let (browser, api) = herald.owner_signed_in("owner@acme.test", "Acme", "owner-password");
    let token = token(&api, &sms_channel(&api, &twilio));
    let (status, _) = generic(
        &herald,
        &token,
        json!({"to": "+5511999999999", "body": "Your code: 4711"}),
    );
    assert_eq!(status, 200);
    let template = api.post_ok(
        "/api/templates",
        &json!({"name": "Receipt", "subject": "Your receipt", "html": "<p>Thanks</p>"}),
    );
    let (status, answer) = status_and_json(api.post(
        "/api/v1/messages",
        &json!({"template": template["id"], "to": "buyer@example.com"}),
    ));
    assert_eq!(status, 201, "{answer}");

    let channels = |query: &str| -> Vec<String> {
        api.get(&format!("/api/messages{query}"))["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["channel"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(channels(""), ["email", "sms"]);
    assert_eq!(channels("?channel=sms"), ["sms"]);
    assert_eq!(channels("?channel=email"), ["email"]);
    let (status, answer) = status_and_json(api.get_response("/api/messages?channel=fax"));
    assert_eq!(status, 400, "{answer}");

    let page = support::page_html(&herald, &browser, "/outbox?channel=sms");
    assert!(
        page.contains("Your code: 4711"),
        "the text is listed: {page}"
    );
    assert!(!page.contains("Your receipt"), "email is filtered out");
    let all = support::page_html(&herald, &browser, "/outbox");
    assert!(all.contains("Your code: 4711") && all.contains("Your receipt"));
}
