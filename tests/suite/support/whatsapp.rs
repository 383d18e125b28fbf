//! A stand-in for Meta's WhatsApp Cloud API on loopback, speaking the documented API so
//! that Herald's WhatsApp client is tested over real HTTP against what Meta does:
//!
//! - `POST /{version}/{phone_number_id}/messages` with `Authorization: Bearer {token}`
//!   (wrong or missing: `401`, code 190, `OAuthException`); an unknown phone number id
//!   answers `400` code 100 subcode 33, as the Graph API does for a missing object;
//! - a JSON body with `messaging_product: "whatsapp"`, `to` (a phone number with
//!   country code, else `400` code 100 "Invalid parameter") and a `type` whose object
//!   is present (`text.body`, or a media `link`);
//! - an accepted message answers `200` with `messaging_product`, `contacts[{input,
//!   wa_id}]` and `messages[{id: "wamid.…"}]`;
//! - errors answer the Graph error `{"error": {message, type, code, error_data,
//!   fbtrace_id}}`.
//!
//! Modes script the account: a payment problem (`400` code 131042 "Business
//! eligibility payment issue"), down (`500` code 131000 "Something went wrong").
//!
//! It also plays Meta's side of webhooks: [`FakeWhatsApp::send_status_webhook`] and
//! [`FakeWhatsApp::send_inbound_text`] post the documented `whatsapp_business_account`
//! payload signed with `X-Hub-Signature-256`, computed here on its own.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::stub_server::{StubAnswer, StubRequest, StubServer};

/// How the stand-in account behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatsAppMode {
    /// Accepts valid messages.
    Normal,
    /// The business has a payment problem: `400` with code 131042.
    NoCredit,
    /// The Cloud API is failing: `500` with code 131000.
    Down,
}

/// One message the stand-in accepted, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsAppMessage {
    /// The `wamid.…` id it answered.
    pub id: String,
    pub version: String,
    pub to: String,
    /// The message `type`: `text`, `image`, `video`, `audio` or `document`.
    pub kind: String,
    /// The whole JSON body.
    pub payload: Value,
    /// The `Authorization` header as sent.
    pub authorization: String,
}

struct State {
    mode: WhatsAppMode,
    messages: Vec<WhatsAppMessage>,
}

/// A running stand-in WhatsApp Business phone number.
pub struct FakeWhatsApp {
    server: StubServer,
    phone_number_id: String,
    access_token: String,
    state: Arc<Mutex<State>>,
}

/// The WhatsApp Business Account id the webhooks name.
const WABA_ID: &str = "102290129340398";
/// The business phone number the webhooks name.
const DISPLAY_NUMBER: &str = "15550783881";

/// A Graph API error answer.
fn graph_error(status: u16, code: u32, message: &str, details: Option<&str>) -> StubAnswer {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": format!("A{}", &STANDARD.encode(rand::random::<[u8; 15]>())),
    });
    if let Some(details) = details {
        error["error_data"] = json!({ "messaging_product": "whatsapp", "details": details });
    }
    StubAnswer::Json(status, json!({ "error": error }).to_string())
}

/// A `wamid.…` message id shaped like Meta's (base64 of an opaque value).
fn wamid() -> String {
    format!("wamid.{}", STANDARD.encode(rand::random::<[u8; 30]>()))
}

/// A phone number with country code, with or without `+`: 8 to 15 digits.
fn is_phone_number(to: &str) -> bool {
    let digits = to.strip_prefix('+').unwrap_or(to);
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Unix seconds, as a string, as Meta's webhooks send them.
fn timestamp() -> String {
    time::OffsetDateTime::now_utc().unix_timestamp().to_string()
}

impl FakeWhatsApp {
    /// Starts a stand-in with a fresh phone number id and access token.
    pub fn start() -> FakeWhatsApp {
        let phone_number_id = format!("1{:014}", rand::random::<u64>() % 100_000_000_000_000);
        let access_token = format!("EAAG{}", hex::encode(rand::random::<[u8; 24]>()));
        let state = Arc::new(Mutex::new(State {
            mode: WhatsAppMode::Normal,
            messages: Vec::new(),
        }));
        let (id, token, shared) = (
            phone_number_id.clone(),
            access_token.clone(),
            Arc::clone(&state),
        );
        let server = StubServer::start(move |request| handle(&id, &token, &shared, request));
        FakeWhatsApp {
            server,
            phone_number_id,
            access_token,
            state,
        }
    }

    /// Where to point the client: `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn phone_number_id(&self) -> &str {
        &self.phone_number_id
    }

    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Changes how the following requests are answered.
    pub fn set_mode(&self, mode: WhatsAppMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<WhatsAppMessage> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Waits until `n` messages were accepted and returns them; panics after `timeout`.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<WhatsAppMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "the WhatsApp stand-in expected {n} message(s) within {timeout:?}, got {}",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The documented webhook envelope around one `value`.
    fn envelope(&self, value: Value) -> Value {
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({
            "display_phone_number": DISPLAY_NUMBER,
            "phone_number_id": self.phone_number_id,
        });
        json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": WABA_ID, "changes": [{ "value": value, "field": "messages" }] }],
        })
    }

    /// Posts a status webhook for message `wamid` to `url`, signed with `app_secret`:
    /// `statuses[{id, status, timestamp, recipient_id, …}]`, with `conversation` and
    /// `pricing` for `sent`/`delivered`, and `errors[{code, title, message, error_data:
    /// {details}, href}]` when `error` (code, title, details) is given. Returns the HTTP
    /// status `url` answered.
    pub fn send_status_webhook(
        &self,
        url: &str,
        app_secret: &str,
        wamid: &str,
        status: &str,
        error: Option<(u32, &str, &str)>,
    ) -> u16 {
        let recipient = self
            .messages()
            .into_iter()
            .find(|m| m.id == wamid)
            .map(|m| m.to.trim_start_matches('+').to_string())
            .unwrap_or_else(|| "16505551234".to_string());
        let mut entry = json!({
            "id": wamid,
            "status": status,
            "timestamp": timestamp(),
            "recipient_id": recipient,
        });
        if matches!(status, "sent" | "delivered") {
            entry["conversation"] = json!({
                "id": hex::encode(rand::random::<[u8; 16]>()),
                "origin": { "type": "utility" },
            });
            entry["pricing"] =
                json!({ "billable": true, "pricing_model": "CBP", "category": "utility" });
        }
        if let Some((code, title, details)) = error {
            entry["errors"] = json!([{
                "code": code,
                "title": title,
                "message": title,
                "error_data": { "details": details },
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }]);
        }
        let payload = self.envelope(json!({ "statuses": [entry] }));
        post_signed(url, app_secret, &payload)
    }

    /// Posts an inbound text message webhook to `url`, signed with `app_secret`, as Meta
    /// does when `from` (a wa_id, digits only) writes `text` to the business. Returns the
    /// HTTP status `url` answered.
    pub fn send_inbound_text(&self, url: &str, app_secret: &str, from: &str, text: &str) -> u16 {
        let payload = self.envelope(json!({
            "contacts": [{ "profile": { "name": "Test Contact" }, "wa_id": from }],
            "messages": [{
                "from": from,
                "id": wamid(),
                "timestamp": timestamp(),
                "text": { "body": text },
                "type": "text",
            }],
        }));
        post_signed(url, app_secret, &payload)
    }
}

/// Posts `payload` to `url` with Meta's `X-Hub-Signature-256`: "sha256=" and the
/// lower-case hex HMAC-SHA256 of the exact body bytes, keyed with the app secret.
fn post_signed(url: &str, app_secret: &str, payload: &Value) -> u16 {
    let body = payload.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::blocking::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", signature)
        .header("User-Agent", "facebookexternalua")
        .body(body)
        .send()
        .expect("post the webhook")
        .status()
        .as_u16()
}

/// Answers one request to the stand-in.
fn handle(phone_id: &str, token: &str, state: &Mutex<State>, request: &StubRequest) -> StubAnswer {
    let parts: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let [version, id, "messages"] = parts.as_slice() else {
        return graph_error(400, 100, "Unsupported request - method type: post", None);
    };
    if !version.starts_with('v') || request.method != "POST" {
        return graph_error(400, 100, "Unknown path components", None);
    }
    let bearer = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if bearer != Some(token) {
        let message = "Invalid OAuth access token - Cannot parse access token";
        return graph_error(401, 190, message, None);
    }
    if *id != phone_id {
        let message = format!(
            "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded \
             due to missing permissions, or does not support this operation."
        );
        let StubAnswer::Json(status, body) = graph_error(400, 100, &message, None) else {
            unreachable!()
        };
        let mut body: Value = serde_json::from_str(&body).unwrap();
        body["error"]["error_subcode"] = json!(33);
        return StubAnswer::Json(status, body.to_string());
    }
    let mode = state.lock().unwrap().mode;
    match mode {
        WhatsAppMode::NoCredit => {
            let details = "Message failed to send because there were one or more errors \
                           related to your payment method.";
            return graph_error(
                400,
                131042,
                "(#131042) Business eligibility payment issue",
                Some(details),
            );
        }
        WhatsAppMode::Down => {
            return graph_error(
                500,
                131000,
                "(#131000) Something went wrong",
                Some("Something went wrong"),
            );
        }
        WhatsAppMode::Normal => {}
    }
    match accept(version, request) {
        Ok(message) => {
            let answer = json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": message.to, "wa_id": message.to.trim_start_matches('+') }],
                "messages": [{ "id": message.id }],
            });
            state.lock().unwrap().messages.push(message);
            StubAnswer::Json(200, answer.to_string())
        }
        Err(answer) => answer,
    }
}

/// Validates a message body as the Cloud API does and records it.
fn accept(version: &str, request: &StubRequest) -> Result<WhatsAppMessage, StubAnswer> {
    let invalid = |details: &str| graph_error(400, 100, "(#100) Invalid parameter", Some(details));
    let payload: Value = serde_json::from_slice(&request.body)
        .map_err(|_| invalid("The request body is not valid JSON"))?;
    if payload["messaging_product"] != "whatsapp" {
        return Err(invalid("The parameter messaging_product is required."));
    }
    let to = payload["to"].as_str().unwrap_or("");
    if !is_phone_number(to) {
        return Err(invalid(&format!(
            "Invalid WhatsApp recipient phone number: '{to}'"
        )));
    }
    let kind = payload["type"].as_str().unwrap_or("text");
    let content = &payload[kind];
    let complete = match kind {
        "text" => content["body"].as_str().is_some_and(|b| !b.is_empty()),
        "image" | "video" | "audio" | "document" => content["link"].as_str().is_some(),
        _ => return Err(invalid(&format!("Unsupported message type: {kind}"))),
    };
    if !complete {
        return Err(invalid(&format!(
            "Parameter '{kind}' is missing or incomplete"
        )));
    }
    Ok(WhatsAppMessage {
        id: wamid(),
        version: version.to_string(),
        to: to.to_string(),
        kind: kind.to_string(),
        payload: payload.clone(),
        authorization: request.header("authorization").unwrap_or("").to_string(),
    })
}
