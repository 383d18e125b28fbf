//! A stand-in for Twilio's Messages API on loopback, speaking the documented API so
//! that Herald's SMS client is tested over real HTTP against what Twilio does:
//!
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth with the
//!   Account SID and Auth Token (wrong or missing: `401`, code 20003 "Authenticate");
//! - a form body with `To` (E.164 or `400` code 21211), `From` or `MessagingServiceSid`
//!   (neither: `400` code 21603), `Body` and/or repeated `MediaUrl` (neither: `400` code
//!   21602), optional `StatusCallback`;
//! - an accepted message answers `201` with Twilio's message resource (`sid` "SM" + 32
//!   hex, `status` `queued`, or `accepted` through a Messaging Service);
//! - errors answer Twilio's `{code, message, more_info, status}`.
//!
//! Modes script the account: out of funds (`401` code 20005 "Account not active", the
//! code Herald reads as no credit), down (`500` code 20500 or `503` code 20503), or
//! hung (reads the request and never answers).
//!
//! It also plays Twilio's side of webhooks: [`FakeTwilio::send_status_callback`] and
//! [`FakeTwilio::send_inbound`] post form parameters signed with `X-Twilio-Signature`,
//! computed here on its own (not with Herald's function) so that a mistake in Herald's
//! signature check shows.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use super::stub_server::{StubAnswer, StubRequest, StubServer};

/// How the stand-in account behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioMode {
    /// Accepts valid messages.
    Normal,
    /// The account ran out of funds: `401` with code 20005.
    NoCredit,
    /// Twilio is failing: `500` (code 20500) or `503` (code 20503).
    Down(u16),
    /// Reads the request and never answers (closes after 10 s).
    Hang,
}

/// One message the stand-in accepted, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioMessage {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: String,
    /// Every form parameter, in order.
    pub params: Vec<(String, String)>,
}

struct State {
    mode: TwilioMode,
    messages: Vec<TwilioMessage>,
}

/// A running stand-in Twilio account.
pub struct FakeTwilio {
    server: StubServer,
    account_sid: String,
    auth_token: String,
    state: Arc<Mutex<State>>,
}

/// 32 random lower-case hex digits, as in Twilio's SIDs.
fn hex32() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Twilio's error body.
fn error(status: u16, code: u32, message: &str) -> StubAnswer {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    StubAnswer::Json(status, body.to_string())
}

/// `^\+[1-9]\d{1,14}$`, the E.164 form Twilio asks for.
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The `X-Twilio-Signature` of a request, as Twilio documents it: HMAC-SHA1 keyed with
/// the auth token over the URL followed by every parameter's name and value, ordered
/// by name; base64.
fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, String)]) -> String {
    let mut names: Vec<&(&str, String)> = params.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    let mut signed = url.to_string();
    for (name, value) in names {
        signed.push_str(name);
        signed.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The first value of a form parameter.
fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl FakeTwilio {
    /// Starts a stand-in account with a fresh SID ("AC" + 32 hex) and auth token.
    pub fn start() -> FakeTwilio {
        let account_sid = format!("AC{}", hex32());
        let auth_token = hex32();
        let state = Arc::new(Mutex::new(State {
            mode: TwilioMode::Normal,
            messages: Vec::new(),
        }));
        let (sid, token, shared) = (account_sid.clone(), auth_token.clone(), Arc::clone(&state));
        let server = StubServer::start(move |request| handle(&sid, &token, &shared, request));
        FakeTwilio {
            server,
            account_sid,
            auth_token,
            state,
        }
    }

    /// Where to point the client: `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.auth_token
    }

    /// Changes how the following requests are answered.
    pub fn set_mode(&self, mode: TwilioMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<TwilioMessage> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Waits until `n` messages were accepted and returns them; panics after `timeout`.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<TwilioMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "the Twilio stand-in expected {n} message(s) within {timeout:?}, got {}",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Posts a status callback for message `sid` to its `StatusCallback` URL, as Twilio
    /// does on each status change: `MessageSid`, `SmsSid`, `AccountSid`, `From`, `To`,
    /// `MessageStatus`, `SmsStatus`, `ApiVersion`, and `ErrorCode` for a failure, signed.
    /// Returns the HTTP status the callback URL answered.
    pub fn send_status_callback(&self, sid: &str, status: &str, error_code: Option<&str>) -> u16 {
        let message = self
            .messages()
            .into_iter()
            .find(|m| m.sid == sid)
            .unwrap_or_else(|| panic!("no message {sid} at the Twilio stand-in"));
        let url = message
            .status_callback
            .clone()
            .unwrap_or_else(|| panic!("message {sid} has no StatusCallback"));
        let from = message
            .from
            .clone()
            .unwrap_or_else(|| "+15005550006".into());
        let mut params = vec![
            ("ApiVersion", "2010-04-01".to_string()),
            ("AccountSid", self.account_sid.clone()),
            ("MessageSid", sid.to_string()),
            ("SmsSid", sid.to_string()),
            ("From", from),
            ("To", message.to.clone()),
            ("MessageStatus", status.to_string()),
            ("SmsStatus", status.to_string()),
        ];
        if let Some(service) = &message.messaging_service_sid {
            params.push(("MessagingServiceSid", service.clone()));
        }
        if let Some(code) = error_code {
            params.push(("ErrorCode", code.to_string()));
        }
        self.post_signed(&url, &params)
    }

    /// Posts an inbound message webhook to `url`, as Twilio does when `from` texts the
    /// account's number `to`: `MessageSid`, `AccountSid`, `From`, `To`, `Body`,
    /// `NumMedia`, `NumSegments`, `SmsStatus=received`, and `OptOutType` when given
    /// (Twilio adds it for STOP/START/HELP keywords with Advanced Opt-Out), signed.
    /// Returns the HTTP status `url` answered.
    pub fn send_inbound(
        &self,
        url: &str,
        from: &str,
        to: &str,
        body: &str,
        opt_out_type: Option<&str>,
    ) -> u16 {
        let sid = format!("SM{}", hex32());
        let mut params = vec![
            ("ToCountry", "US".to_string()),
            ("SmsMessageSid", sid.clone()),
            ("NumMedia", "0".to_string()),
            ("SmsSid", sid.clone()),
            ("SmsStatus", "received".to_string()),
            ("Body", body.to_string()),
            ("To", to.to_string()),
            ("NumSegments", "1".to_string()),
            ("MessageSid", sid),
            ("AccountSid", self.account_sid.clone()),
            ("From", from.to_string()),
            ("ApiVersion", "2010-04-01".to_string()),
        ];
        if let Some(kind) = opt_out_type {
            params.push(("OptOutType", kind.to_string()));
        }
        self.post_signed(url, &params)
    }

    /// Posts `params` as a form to `url` with Twilio's signature header.
    fn post_signed(&self, url: &str, params: &[(&str, String)]) -> u16 {
        let signature = twilio_signature(&self.auth_token, url, params);
        let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        reqwest::blocking::Client::new()
            .post(url)
            .header("X-Twilio-Signature", signature)
            .header("User-Agent", "TwilioProxy/1.1")
            .form(&form)
            .send()
            .expect("post the webhook")
            .status()
            .as_u16()
    }
}

/// Whether the `Authorization` header is HTTP Basic with exactly this SID and token.
fn authorized(request: &StubRequest, sid: &str, token: &str) -> bool {
    let Some(value) = request.header("authorization") else {
        return false;
    };
    let Some(encoded) = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, e)| e.trim())
    else {
        return false;
    };
    let decoded = STANDARD.decode(encoded).unwrap_or_default();
    decoded == format!("{sid}:{token}").as_bytes()
}

/// Answers one request to the stand-in.
fn handle(sid: &str, token: &str, state: &Mutex<State>, request: &StubRequest) -> StubAnswer {
    let prefix = "/2010-04-01/Accounts/";
    let path_sid = request
        .path
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix("/Messages.json"));
    let Some(path_sid) = path_sid else {
        return error(404, 20404, "The requested resource was not found");
    };
    if request.method != "POST" {
        return error(405, 20004, "Method not allowed");
    }
    if path_sid != sid || !authorized(request, sid, token) {
        return error(401, 20003, "Authenticate");
    }
    let mode = state.lock().unwrap().mode;
    match mode {
        TwilioMode::NoCredit => return error(401, 20005, "Account not active"),
        TwilioMode::Down(503) => {
            return error(503, 20503, "Service is unavailable, please try again");
        }
        TwilioMode::Down(status) => {
            return error(status, 20500, "An internal server error has occurred");
        }
        TwilioMode::Hang => return StubAnswer::Hang(Duration::from_secs(10)),
        TwilioMode::Normal => {}
    }
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&request.body).unwrap_or_default();
    match accept(sid, &params, request) {
        Ok((message, answer)) => {
            state.lock().unwrap().messages.push(message);
            StubAnswer::Json(201, answer.to_string())
        }
        Err(answer) => answer,
    }
}

/// Validates a message as Twilio does and builds its record and `201` resource.
fn accept(
    account_sid: &str,
    params: &[(String, String)],
    request: &StubRequest,
) -> Result<(TwilioMessage, Value), StubAnswer> {
    let to = first(params, "To").unwrap_or("");
    if to.is_empty() {
        return Err(error(400, 21604, "A 'To' phone number is required."));
    }
    if !is_e164(to) {
        let message = format!("The 'To' number {to} is not a valid phone number.");
        return Err(error(400, 21211, &message));
    }
    let from = first(params, "From").filter(|f| !f.is_empty());
    let service = first(params, "MessagingServiceSid").filter(|s| !s.is_empty());
    if from.is_none() && service.is_none() {
        return Err(error(400, 21603, "A 'From' phone number is required."));
    }
    let body = first(params, "Body").map(str::to_string);
    let media_urls: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.clone())
        .collect();
    if body.as_deref().unwrap_or("").is_empty() && media_urls.is_empty() {
        return Err(error(400, 21602, "Message body is required."));
    }
    let message = TwilioMessage {
        sid: format!("SM{}", hex32()),
        to: to.to_string(),
        from: from.map(str::to_string),
        messaging_service_sid: service.map(str::to_string),
        body,
        media_urls,
        status_callback: first(params, "StatusCallback").map(str::to_string),
        authorization: request.header("authorization").unwrap_or("").to_string(),
        params: params.to_vec(),
    };
    let resource = resource(account_sid, &message);
    Ok((message, resource))
}

/// Twilio's message resource for a newly created message.
fn resource(account_sid: &str, m: &TwilioMessage) -> Value {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{}", m.sid);
    json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": m.body.clone().unwrap_or_default(),
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": m.media_urls.len().to_string(),
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": if m.messaging_service_sid.is_some() { "accepted" } else { "queued" },
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": m.to,
        "uri": format!("{uri}.json"),
    })
}
