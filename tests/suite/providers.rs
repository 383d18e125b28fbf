//! Herald's provider clients (`channels::providers`) over real HTTP against stand-ins
//! that speak each provider's documented API (`tests/suite/support/twilio.rs`,
//! `tests/suite/support/whatsapp.rs`): what arrives at the provider, how each documented
//! error is classified, and that the webhooks the providers sign verify and parse.

use crate::support;

use std::net::TcpListener;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald::channels::providers::twilio::{self, TwilioAccount};
use herald::channels::providers::whatsapp::{self, WhatsAppAccount};
use herald::channels::providers::{ProviderError, StatusUpdate};
use serde_json::{Value, json};
use support::receiver::{Receiver, Request};
use support::twilio::{FakeTwilio, TwilioMode};
use support::whatsapp::{FakeWhatsApp, WhatsAppMode};

const WAIT: Duration = Duration::from_secs(5);
const FROM: &str = "+15005550006";
const TO: &str = "+15557654321";
const APP_SECRET: &str = "whatsapp-app-secret";

/// An agent as the channels feature builds one: bounded, error statuses handed back.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A loopback URL nothing listens on.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn sms_account(fake: &FakeTwilio) -> TwilioAccount {
    TwilioAccount {
        base_url: fake.base_url(),
        account_sid: fake.account_sid().to_string(),
        auth_token: fake.auth_token().to_string(),
        from: Some(FROM.to_string()),
        messaging_service_sid: None,
    }
}

fn wa_account(fake: &FakeWhatsApp) -> WhatsAppAccount {
    WhatsAppAccount {
        base_url: fake.base_url(),
        api_version: whatsapp::DEFAULT_API_VERSION.to_string(),
        phone_number_id: fake.phone_number_id().to_string(),
        access_token: fake.access_token().to_string(),
    }
}

/// The form parameters of a request the receiver recorded.
fn form(request: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_str(&request.body).unwrap()
}

/// Sends one SMS through `account` to `to`, without media or callback.
fn sms(
    account: &TwilioAccount,
    to: &str,
) -> Result<herald::channels::providers::Sent, ProviderError> {
    twilio::send(&agent(), account, to, "Hello", &[], None)
}

#[test]
fn an_sms_arrives_with_every_field_as_sent() {
    let fake = FakeTwilio::start();
    let account = sms_account(&fake);
    let body = "Hi & welcome — 100% ✓\nline two=yes";
    let media = vec![
        "https://cdn.example.com/a.png?x=1&y=2".to_string(),
        "https://cdn.example.com/b.jpg".to_string(),
    ];
    let callback = "https://herald.example.com/channels/sms/status?ws=1";
    let sent = twilio::send(&agent(), &account, TO, body, &media, Some(callback)).unwrap();

    let message = &fake.wait_for(1, WAIT)[0];
    assert_eq!(sent.provider_id, message.sid);
    assert!(sent.provider_id.starts_with("SM") && sent.provider_id.len() == 34);
    assert_eq!(sent.status, "queued");
    assert_eq!(message.to, TO);
    assert_eq!(message.from.as_deref(), Some(FROM));
    assert_eq!(message.messaging_service_sid, None);
    assert_eq!(message.body.as_deref(), Some(body));
    assert_eq!(message.media_urls, media);
    assert_eq!(message.status_callback.as_deref(), Some(callback));
    let credentials = STANDARD.encode(format!("{}:{}", fake.account_sid(), fake.auth_token()));
    assert_eq!(message.authorization, format!("Basic {credentials}"));
    let media_params = message
        .params
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .count();
    assert_eq!(media_params, 2, "one MediaUrl parameter per item");
}

#[test]
fn a_messaging_service_sends_instead_of_a_number() {
    let fake = FakeTwilio::start();
    let account = TwilioAccount {
        messaging_service_sid: Some("MG0123456789abcdef0123456789abcdef".to_string()),
        ..sms_account(&fake)
    };
    let sent = twilio::send(
        &agent(),
        &account,
        TO,
        "",
        &["https://e.x/p.gif".into()],
        None,
    )
    .unwrap();
    assert_eq!(sent.status, "accepted");
    let message = &fake.wait_for(1, WAIT)[0];
    assert_eq!(
        message.messaging_service_sid.as_deref(),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(message.from, None, "From is left to the service");
    assert_eq!(message.body, None, "an empty body is not sent");
    assert_eq!(message.status_callback, None);
}

#[test]
fn wrong_credentials_are_bad_credentials_whatever_the_agent() {
    let fake = FakeTwilio::start();
    let account = TwilioAccount {
        auth_token: "wrong".to_string(),
        ..sms_account(&fake)
    };
    let err = sms(&account, TO).unwrap_err();
    assert_eq!(err, ProviderError::BadCredentials("Authenticate".into()));
    assert!(!err.is_temporary());
    // An agent left at ureq's default (statuses as errors) still gets the error body.
    let default_agent = ureq::Agent::new_with_defaults();
    let err = twilio::send(&default_agent, &account, TO, "Hello", &[], None).unwrap_err();
    assert_eq!(err, ProviderError::BadCredentials("Authenticate".into()));
    let other_account = TwilioAccount {
        account_sid: format!("AC{}", "0".repeat(32)),
        ..sms_account(&fake)
    };
    assert!(matches!(
        sms(&other_account, TO),
        Err(ProviderError::BadCredentials(_))
    ));
    assert!(fake.messages().is_empty());
}

#[test]
fn an_invalid_number_is_rejected_with_twilios_code() {
    let fake = FakeTwilio::start();
    let err = sms(&sms_account(&fake), "5551234").unwrap_err();
    let ProviderError::Rejected { code, message } = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert_eq!(code.as_deref(), Some("21211"));
    assert!(message.contains("not a valid phone number"), "{message}");
    assert!(!err.is_temporary());
    assert!(fake.messages().is_empty());
}

#[test]
fn an_account_out_of_funds_is_no_credit() {
    let fake = FakeTwilio::start();
    fake.set_mode(TwilioMode::NoCredit);
    let err = sms(&sms_account(&fake), TO).unwrap_err();
    assert_eq!(err, ProviderError::NoCredit("Account not active".into()));
    assert!(!err.is_temporary());
}

#[test]
fn twilio_down_is_unavailable_and_temporary() {
    let fake = FakeTwilio::start();
    for status in [500, 503] {
        fake.set_mode(TwilioMode::Down(status));
        let err = sms(&sms_account(&fake), TO).unwrap_err();
        assert!(
            matches!(err, ProviderError::Unavailable(_)),
            "{status}: {err:?}"
        );
        assert!(err.is_temporary());
    }
    fake.set_mode(TwilioMode::Normal);
    assert!(sms(&sms_account(&fake), TO).is_ok(), "it recovers");
}

#[test]
fn unreachable_or_hung_providers_are_unavailable() {
    let account = TwilioAccount {
        base_url: closed_port_url(),
        account_sid: "AC1".into(),
        auth_token: "t".into(),
        from: Some(FROM.into()),
        messaging_service_sid: None,
    };
    let err = sms(&account, TO).unwrap_err();
    assert!(err.is_temporary(), "{err:?}");

    let fake = FakeTwilio::start();
    fake.set_mode(TwilioMode::Hang);
    let quick: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .into();
    let err = twilio::send(&quick, &sms_account(&fake), TO, "Hi", &[], None).unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
}

#[test]
fn a_status_callback_verifies_and_parses() {
    let fake = FakeTwilio::start();
    let receiver = Receiver::start();
    let url = receiver.url("/channels/sms/status?workspace=7");
    let sent = twilio::send(&agent(), &sms_account(&fake), TO, "Hi", &[], Some(&url)).unwrap();

    assert_eq!(
        fake.send_status_callback(&sent.provider_id, "delivered", None),
        200
    );
    assert_eq!(
        fake.send_status_callback(&sent.provider_id, "undelivered", Some("30003")),
        200
    );
    let requests = receiver.wait_for(2, WAIT);
    let token = fake.auth_token();
    for request in &requests {
        let header = request.header("x-twilio-signature").unwrap();
        assert!(twilio::verify_signature(
            token,
            &url,
            &form(request),
            &header
        ));
        assert!(!twilio::verify_signature(
            "other-token",
            &url,
            &form(request),
            &header
        ));
        assert!(!twilio::verify_signature(
            token,
            &receiver.url("/x"),
            &form(request),
            &header
        ));
        let mut altered = form(request);
        altered
            .iter_mut()
            .find(|(k, _)| k == "MessageStatus")
            .unwrap()
            .1 = "read".into();
        assert!(!twilio::verify_signature(token, &url, &altered, &header));
    }
    let delivered = twilio::status_update(&form(&requests[0])).unwrap();
    assert_eq!(
        delivered,
        StatusUpdate {
            provider_id: sent.provider_id.clone(),
            status: "delivered".into(),
            error_code: None,
            error_message: None,
        }
    );
    let failed = twilio::status_update(&form(&requests[1])).unwrap();
    assert_eq!(failed.status, "undelivered");
    assert_eq!(failed.error_code.as_deref(), Some("30003"));
    assert!(!twilio::is_opt_out(&form(&requests[1])));
}

#[test]
fn an_inbound_stop_is_an_opt_out() {
    let fake = FakeTwilio::start();
    let receiver = Receiver::start();
    let url = receiver.url("/channels/sms/inbound");
    assert_eq!(fake.send_inbound(&url, TO, FROM, "Stop", None), 200);
    assert_eq!(
        fake.send_inbound(&url, TO, FROM, "stop texting me", Some("STOP")),
        200
    );
    assert_eq!(fake.send_inbound(&url, TO, FROM, "Hello there", None), 200);
    assert_eq!(
        fake.send_inbound(&url, TO, FROM, "start", Some("START")),
        200
    );
    let requests = receiver.wait_for(4, WAIT);
    for request in &requests {
        let header = request.header("x-twilio-signature").unwrap();
        assert!(twilio::verify_signature(
            fake.auth_token(),
            &url,
            &form(request),
            &header
        ));
        assert_eq!(
            twilio::status_update(&form(request)),
            None,
            "not a status callback"
        );
    }
    let opt_outs: Vec<bool> = requests
        .iter()
        .map(|r| twilio::is_opt_out(&form(r)))
        .collect();
    assert_eq!(opt_outs, [true, true, false, false]);
}

#[test]
fn a_whatsapp_text_arrives_as_documented() {
    let fake = FakeWhatsApp::start();
    let body = "Your order #12 shipped — track it at https://e.x/t?id=1&\"q\"";
    let sent = whatsapp::send_text(&agent(), &wa_account(&fake), TO, body).unwrap();
    let message = &fake.wait_for(1, WAIT)[0];
    assert_eq!(sent.provider_id, message.id);
    assert!(sent.provider_id.starts_with("wamid."));
    assert_eq!(sent.status, "accepted");
    assert_eq!(message.version, "v21.0");
    assert_eq!(
        message.authorization,
        format!("Bearer {}", fake.access_token())
    );
    assert_eq!(
        message.payload,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TO,
            "type": "text",
            "text": { "body": body, "preview_url": false },
        })
    );
}

#[test]
fn whatsapp_media_kinds_follow_the_url() {
    let fake = FakeWhatsApp::start();
    let account = wa_account(&fake);
    let cases = [
        (
            "https://cdn.e.x/p/photo.JPG?sig=abc",
            Some("Look"),
            "image",
            json!({"link": "https://cdn.e.x/p/photo.JPG?sig=abc", "caption": "Look"}),
        ),
        (
            "https://cdn.e.x/clip.mp4",
            None,
            "video",
            json!({"link": "https://cdn.e.x/clip.mp4"}),
        ),
        (
            "https://cdn.e.x/voice.ogg",
            Some("dropped"),
            "audio",
            json!({"link": "https://cdn.e.x/voice.ogg"}),
        ),
        (
            "https://cdn.e.x/docs/invoice-7.pdf",
            Some("Invoice"),
            "document",
            json!({"link": "https://cdn.e.x/docs/invoice-7.pdf", "caption": "Invoice", "filename": "invoice-7.pdf"}),
        ),
    ];
    for (url, caption, _, _) in &cases {
        whatsapp::send_media(&agent(), &account, TO, url, *caption).unwrap();
    }
    let messages = fake.wait_for(cases.len(), WAIT);
    for (message, (_, _, kind, object)) in messages.iter().zip(&cases) {
        assert_eq!(message.kind, *kind);
        assert_eq!(&message.payload[*kind], object, "{kind}");
        assert_eq!(message.payload["recipient_type"], "individual");
    }
}

#[test]
fn whatsapp_credentials_and_phone_number_id_are_checked() {
    let fake = FakeWhatsApp::start();
    let wrong_token = WhatsAppAccount {
        access_token: "EAAGwrong".into(),
        ..wa_account(&fake)
    };
    let err = whatsapp::send_text(&agent(), &wrong_token, TO, "Hi").unwrap_err();
    assert!(
        matches!(&err, ProviderError::BadCredentials(m) if m.contains("access token")),
        "{err:?}"
    );
    let default_agent = ureq::Agent::new_with_defaults();
    let err = whatsapp::send_text(&default_agent, &wrong_token, TO, "Hi").unwrap_err();
    assert!(
        matches!(&err, ProviderError::BadCredentials(m) if m.contains("access token")),
        "{err:?}"
    );
    let wrong_number = WhatsAppAccount {
        phone_number_id: "999".into(),
        ..wa_account(&fake)
    };
    let err = whatsapp::send_text(&agent(), &wrong_number, TO, "Hi").unwrap_err();
    assert!(matches!(err, ProviderError::BadCredentials(_)), "{err:?}");
    assert!(fake.messages().is_empty());
}

#[test]
fn whatsapp_errors_are_classified_by_code() {
    let fake = FakeWhatsApp::start();
    let account = wa_account(&fake);
    let err = whatsapp::send_text(&agent(), &account, "12ab", "Hi").unwrap_err();
    let ProviderError::Rejected { code, message } = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert_eq!(code.as_deref(), Some("100"));
    assert!(
        message.contains("Invalid parameter") && message.contains("12ab"),
        "{message}"
    );

    fake.set_mode(WhatsAppMode::NoCredit);
    let err = whatsapp::send_text(&agent(), &account, TO, "Hi").unwrap_err();
    assert!(
        matches!(&err, ProviderError::NoCredit(m) if m.contains("131042")),
        "{err:?}"
    );
    assert!(!err.is_temporary());

    fake.set_mode(WhatsAppMode::Down);
    let err = whatsapp::send_media(&agent(), &account, TO, "https://e.x/a.png", None).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("131000")),
        "{err:?}"
    );
    assert!(err.is_temporary());

    let unreachable = WhatsAppAccount {
        base_url: closed_port_url(),
        ..account
    };
    let err = whatsapp::send_text(&agent(), &unreachable, TO, "Hi").unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    assert!(fake.messages().is_empty());
}

/// The body of a recorded webhook as Value, after checking its signature.
fn verified(request: &Request) -> Value {
    let header = request.header("x-hub-signature-256").unwrap();
    assert!(whatsapp::verify_signature(
        APP_SECRET,
        request.body.as_bytes(),
        &header
    ));
    serde_json::from_str(&request.body).unwrap()
}

#[test]
fn whatsapp_webhooks_are_signed_with_the_app_secret() {
    let fake = FakeWhatsApp::start();
    let receiver = Receiver::start();
    let url = receiver.url("/channels/whatsapp/webhook");
    assert_eq!(
        fake.send_status_webhook(&url, APP_SECRET, "wamid.X", "sent", None),
        200
    );
    let request = &receiver.wait_for(1, WAIT)[0];
    let header = request.header("x-hub-signature-256").unwrap();
    assert!(header.starts_with("sha256="));
    let body = request.body.as_bytes();
    assert!(whatsapp::verify_signature(APP_SECRET, body, &header));
    assert!(!whatsapp::verify_signature("another-secret", body, &header));
    let altered = request.body.replace("\"sent\"", "\"read\"");
    assert_ne!(altered, request.body);
    assert!(!whatsapp::verify_signature(
        APP_SECRET,
        altered.as_bytes(),
        &header
    ));
}

#[test]
fn whatsapp_statuses_parse_with_their_failure_reason() {
    let fake = FakeWhatsApp::start();
    let account = wa_account(&fake);
    let sent = whatsapp::send_text(&agent(), &account, TO, "Hi").unwrap();
    let receiver = Receiver::start();
    let url = receiver.url("/channels/whatsapp/webhook");
    let id = sent.provider_id.as_str();
    fake.send_status_webhook(&url, APP_SECRET, id, "delivered", None);
    fake.send_status_webhook(&url, APP_SECRET, id, "read", None);
    let reason = (
        131026,
        "Message undeliverable",
        "The recipient is not on WhatsApp",
    );
    fake.send_status_webhook(&url, APP_SECRET, id, "failed", Some(reason));
    let requests = receiver.wait_for(3, WAIT);
    let updates: Vec<StatusUpdate> = requests
        .iter()
        .flat_map(|r| whatsapp::status_updates(&verified(r)))
        .collect();
    let statuses: Vec<&str> = updates.iter().map(|u| u.status.as_str()).collect();
    assert_eq!(statuses, ["delivered", "read", "failed"]);
    assert!(updates.iter().all(|u| u.provider_id == sent.provider_id));
    assert_eq!(updates[0].error_code, None);
    assert_eq!(updates[2].error_code.as_deref(), Some("131026"));
    let message = updates[2].error_message.as_deref().unwrap();
    assert!(message.contains("Message undeliverable"), "{message}");
    assert!(message.contains("not on WhatsApp"), "{message}");
    assert!(
        requests
            .iter()
            .all(|r| whatsapp::opt_outs(&verified(r)).is_empty())
    );
}

#[test]
fn a_whatsapp_stop_is_an_opt_out_of_its_sender() {
    let fake = FakeWhatsApp::start();
    let receiver = Receiver::start();
    let url = receiver.url("/channels/whatsapp/webhook");
    fake.send_inbound_text(&url, APP_SECRET, "15557654321", " stop ");
    fake.send_inbound_text(&url, APP_SECRET, "15550001111", "Where is my order?");
    fake.send_inbound_text(&url, APP_SECRET, "15550002222", "UNSUBSCRIBE");
    let requests = receiver.wait_for(3, WAIT);
    let opt_outs: Vec<Vec<String>> = requests
        .iter()
        .map(|r| whatsapp::opt_outs(&verified(r)))
        .collect();
    assert_eq!(
        opt_outs,
        [
            vec!["15557654321".to_string()],
            vec![],
            vec!["15550002222".to_string()]
        ]
    );
    assert!(
        requests
            .iter()
            .all(|r| whatsapp::status_updates(&verified(r)).is_empty())
    );
}
