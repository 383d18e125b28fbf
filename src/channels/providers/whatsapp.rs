//! WhatsApp messages through Meta's WhatsApp Cloud API: one
//! `POST {base}/{version}/{phone_number_id}/messages` per message with
//! `Authorization: Bearer {access_token}` and a JSON body, answered `200` with the
//! message's `wamid…` id. Delivery statuses and inbound messages arrive as webhooks
//! signed with `X-Hub-Signature-256`, which [`verify_signature`] checks before
//! [`status_updates`] and [`opt_outs`] read them.
//!
//! Error answers are Graph API errors, `{"error": {"message", "type", "code",
//! "error_subcode", "error_data": {"details"}, "fbtrace_id"}}`. The codes Herald acts on
//! (Meta's "WhatsApp error codes" page, developers.facebook.com/documentation/
//! business-messaging/whatsapp/support/error-codes, and the Graph API's own codes):
//!
//! | code | Meta's title | Herald |
//! | --- | --- | --- |
//! | 0, 190 | AuthException, Access token has expired / invalid | `BadCredentials` |
//! | 3, 10, 200–299 | Capability / permission not granted | `BadCredentials` |
//! | 131005 | Access denied | `BadCredentials` |
//! | 100 with subcode 33 | Object does not exist (no such phone number id for this token) | `BadCredentials` |
//! | 131031 | Business account locked (needs the account fixed) | `BadCredentials` |
//! | 131042 | Business eligibility payment issue (no valid payment method, credit line over limit) | `NoCredit` |
//! | 1, 2, 131000 | Unknown error, Service temporarily unavailable, Something went wrong | `Unavailable` |
//! | 131016 | Service unavailable | `Unavailable` |
//! | 4, 80007, 130429 | Too many API calls, WABA rate limit, Cloud API throughput limit | `Unavailable` |
//! | 131048, 131056 | Spam rate limit hit, (Business, consumer) pair rate limit hit | `Unavailable` |
//! | 100 | Invalid parameter (a malformed `to` among others) | `Rejected` |
//! | 131021, 131026, 131047 | Recipient cannot be sender, Message undeliverable, Re-engagement message (24 h window closed) | `Rejected` |
//!
//! Any other code is classified by the HTTP status (see `by_status` in the parent
//! module): another 4xx refuses the message (`Rejected` with the code), 429 and 5xx are
//! `Unavailable`. Meta answers most errors, rate limits included, with `400`, so the
//! code decides first.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{ProviderError, Sent, StatusUpdate};

/// Meta's Graph API host, the base URL unless a test or proxy stands in for it.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

/// The Graph API version Herald was written against; Meta keeps each version for about
/// two years, so an account can move to a later one without a new Herald.
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// One WhatsApp Business phone number and the token allowed to send from it (a system
/// user's access token with `whatsapp_business_messaging`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsAppAccount {
    /// Scheme and host of the Graph API: [`DEFAULT_BASE_URL`] for Meta itself.
    pub base_url: String,
    /// The Graph API version path segment, such as [`DEFAULT_API_VERSION`].
    pub api_version: String,
    pub phone_number_id: String,
    pub access_token: String,
}

/// Sends a text message (links not previewed) to `to`, a phone number with country
/// code (`+15551234567` or `15551234567`).
pub fn send_text(
    agent: &ureq::Agent,
    account: &WhatsAppAccount,
    to: &str,
    body: &str,
) -> Result<Sent, ProviderError> {
    let content = json!({ "body": body, "preview_url": false });
    post(agent, account, to, "text", content)
}

/// Media by URL: kind from the URL's extension (image for jpg/jpeg/png/webp, video for
/// mp4/3gp, audio for mp3/ogg/aac/amr/m4a, document otherwise, with filename),
/// optional caption. Meta fetches the media itself from `url`; audio takes no caption,
/// so one given for audio is left out.
pub fn send_media(
    agent: &ureq::Agent,
    account: &WhatsAppAccount,
    to: &str,
    url: &str,
    caption: Option<&str>,
) -> Result<Sent, ProviderError> {
    let (kind, content) = media_object(url, caption);
    post(agent, account, to, kind, content)
}

/// The last path segment of a URL, without query or fragment.
fn file_name(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = &url[..end];
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    match path.split_once('/') {
        Some((_, rest)) => rest.rsplit('/').next().unwrap_or(""),
        None => "",
    }
}

/// The message type and its media object for a media URL (see [`send_media`]).
fn media_object(url: &str, caption: Option<&str>) -> (&'static str, Value) {
    let name = file_name(url);
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match extension.as_str() {
        "jpg" | "jpeg" | "png" | "webp" => "image",
        "mp4" | "3gp" => "video",
        "mp3" | "ogg" | "aac" | "amr" | "m4a" => "audio",
        _ => "document",
    };
    let mut object = json!({ "link": url });
    if let Some(caption) = caption.filter(|c| !c.is_empty() && kind != "audio") {
        object["caption"] = json!(caption);
    }
    if kind == "document" {
        object["filename"] = json!(if name.is_empty() { "file" } else { name });
    }
    (kind, object)
}

/// Posts one message of type `kind` whose type object is `content`, and reads Meta's
/// answer: `messages[0].id` is the message's id, `messages[0].message_status` its
/// status when Meta gives one (template messages), `accepted` otherwise.
fn post(
    agent: &ureq::Agent,
    account: &WhatsAppAccount,
    to: &str,
    kind: &str,
    content: Value,
) -> Result<Sent, ProviderError> {
    let url = format!(
        "{}/{}/{}/messages",
        account.base_url.trim_end_matches('/'),
        account.api_version.trim_matches('/'),
        account.phone_number_id
    );
    let mut payload = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
    });
    payload[kind] = content;
    let result = agent
        .post(&url)
        .header("Authorization", format!("Bearer {}", account.access_token))
        .header("Content-Type", "application/json")
        .config()
        .http_status_as_error(false)
        .build()
        .send(payload.to_string());
    let answer = super::answer(result)?;
    if !(200..300).contains(&answer.status) {
        return Err(classify(answer.status, &answer.body));
    }
    let parsed: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let message = &parsed["messages"][0];
    let Some(id) = message["id"].as_str().filter(|id| !id.is_empty()) else {
        return Err(ProviderError::Unavailable(format!(
            "answered {} without a message id: {}",
            answer.status,
            super::excerpt(&answer.body)
        )));
    };
    Ok(Sent {
        provider_id: id.to_string(),
        status: message["message_status"]
            .as_str()
            .unwrap_or("accepted")
            .to_string(),
    })
}

/// A JSON number or numeric string as text (Meta sends codes as numbers).
fn code_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// What an error answer means for the message, by the Graph error code first (see the
/// module's table) and by HTTP status otherwise.
fn classify(status: u16, body: &str) -> ProviderError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let code = code_text(&error["code"]);
    let mut message = error["message"].as_str().unwrap_or("").to_string();
    if let Some(details) = error["error_data"]["details"].as_str()
        && !details.is_empty()
        && details != message
    {
        message = if message.is_empty() {
            details.to_string()
        } else {
            format!("{message}: {details}")
        };
    }
    if message.is_empty() {
        message = match super::excerpt(body) {
            b if b.is_empty() => format!("HTTP {status}"),
            b => format!("HTTP {status}: {b}"),
        };
    }
    let number: Option<u64> = code.as_deref().and_then(|c| c.parse().ok());
    if number == Some(100) && code_text(&error["error_subcode"]).as_deref() == Some("33") {
        return ProviderError::BadCredentials(message);
    }
    match number {
        Some(0 | 3 | 10 | 190 | 200..=299 | 131005 | 131031) => {
            ProviderError::BadCredentials(message)
        }
        Some(131042) => ProviderError::NoCredit(message),
        Some(1 | 2 | 4 | 80007 | 130429 | 131000 | 131016 | 131048 | 131056) => {
            ProviderError::Unavailable(message)
        }
        Some(100 | 131021 | 131026 | 131047) => ProviderError::Rejected { code, message },
        _ => super::by_status(status, code, message),
    }
}

/// X-Hub-Signature-256: "sha256=" + hex(HMAC-SHA256(app_secret, raw body)); constant-time.
/// Meta signs every webhook with the app secret, so this is how Herald knows a status
/// or an opt-out came from Meta. `body` must be the bytes as received, before parsing.
pub fn verify_signature(app_secret: &str, body: &[u8], header: &str) -> bool {
    let header = header.trim();
    let Some(hex_part) = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .map(|_| &header[7..])
    else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Every `entry[].changes[].value` of a webhook payload.
fn values(payload: &Value) -> impl Iterator<Item = &Value> {
    let entries = payload["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    entries.iter().flat_map(|entry| {
        let changes = entry["changes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        changes.iter().map(|change| &change["value"])
    })
}

/// The items of an array field, or none.
fn items<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value[field].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The first error of a status, as (code, explanation): its `message` (or `title`),
/// with `error_data.details` when that says more.
fn first_error(status: &Value) -> (Option<String>, Option<String>) {
    let Some(error) = items(status, "errors").first() else {
        return (None, None);
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let mut message = text(&error["message"]).or_else(|| text(&error["title"]));
    if let Some(details) = text(&error["error_data"]["details"])
        && message.as_deref() != Some(details.as_str())
    {
        message = Some(match message {
            Some(m) => format!("{m}: {details}"),
            None => details,
        });
    }
    (code_text(&error["code"]), message)
}

/// Status webhook payload (entry[].changes[].value.statuses[] with id, status sent/delivered/read/failed, errors[].code/title/message) → updates,
/// in the order Meta listed them, so the channels feature can move each message on.
/// Statuses without an id or a status are skipped.
pub fn status_updates(payload: &Value) -> Vec<StatusUpdate> {
    let mut updates = Vec::new();
    for value in values(payload) {
        for status in items(value, "statuses") {
            let (Some(id), Some(state)) = (status["id"].as_str(), status["status"].as_str()) else {
                continue;
            };
            let (error_code, error_message) = first_error(status);
            updates.push(StatusUpdate {
                provider_id: id.to_string(),
                status: state.to_string(),
                error_code,
                error_message,
            });
        }
    }
    updates
}

/// Inbound messages with text body STOP-family → opt-outs (the sender's wa_id), so
/// Herald stops messaging whoever asked it to. WhatsApp has no opt-out keyword of its
/// own; Herald applies the SMS list (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT).
/// Each sender appears once, in order of first appearance.
pub fn opt_outs(payload: &Value) -> Vec<String> {
    let mut senders: Vec<String> = Vec::new();
    for value in values(payload) {
        for message in items(value, "messages") {
            let Some(from) = message["from"].as_str() else {
                continue;
            };
            let text = message["text"]["body"].as_str().unwrap_or("");
            if message["type"] == "text"
                && super::is_opt_out_keyword(text)
                && !senders.iter().any(|s| s == from)
            {
                senders.push(from.to_string());
            }
        }
    }
    senders
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_kinds_follow_the_extension() {
        let kind = |url: &str| media_object(url, None).0;
        assert_eq!(kind("https://e.x/a/photo.JPG?sig=1"), "image");
        assert_eq!(kind("https://e.x/p.webp"), "image");
        assert_eq!(kind("https://e.x/clip.3gp#t"), "video");
        assert_eq!(kind("https://e.x/voice.m4a"), "audio");
        assert_eq!(kind("https://e.x/report.pdf"), "document");
        assert_eq!(kind("https://e.x.jpg"), "document");
        let (_, doc) = media_object("https://e.x/files/report.pdf?x=1", Some("Q3"));
        assert_eq!(
            doc,
            json!({"link": "https://e.x/files/report.pdf?x=1", "caption": "Q3", "filename": "report.pdf"})
        );
        let (_, doc) = media_object("https://e.x/", None);
        assert_eq!(doc["filename"], "file");
        let (_, audio) = media_object("https://e.x/a.mp3", Some("ignored"));
        assert_eq!(audio, json!({"link": "https://e.x/a.mp3"}));
    }

    #[test]
    fn codes_decide_before_statuses() {
        let body = |code: u32| {
            format!(
                r#"{{"error":{{"message":"m","type":"OAuthException","code":{code},"fbtrace_id":"x"}}}}"#
            )
        };
        assert!(matches!(
            classify(401, &body(190)),
            ProviderError::BadCredentials(_)
        ));
        assert!(matches!(
            classify(400, &body(131042)),
            ProviderError::NoCredit(_)
        ));
        assert!(classify(400, &body(130429)).is_temporary());
        assert!(classify(400, &body(131056)).is_temporary());
        assert!(classify(500, &body(131000)).is_temporary());
        assert!(classify(502, "Bad Gateway").is_temporary());
        assert_eq!(
            classify(400, &body(131047)),
            ProviderError::Rejected {
                code: Some("131047".into()),
                message: "m".into()
            }
        );
        assert!(matches!(
            classify(400, &body(132001)),
            ProviderError::Rejected { .. }
        ));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(body);
        let hex = hex::encode(mac.finalize().into_bytes());
        assert!(verify_signature("secret", body, &format!("sha256={hex}")));
        assert!(verify_signature(
            "secret",
            body,
            &format!("SHA256={}", hex.to_uppercase())
        ));
        assert!(!verify_signature("other", body, &format!("sha256={hex}")));
        assert!(!verify_signature("secret", b"{}", &format!("sha256={hex}")));
        assert!(!verify_signature("secret", body, &hex));
        assert!(!verify_signature("secret", body, "sha256=zz"));
        assert!(!verify_signature("secret", body, ""));
    }
}
