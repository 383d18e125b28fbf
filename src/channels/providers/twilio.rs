//! SMS and MMS through the Twilio Messages API, or any provider that speaks it: one
//! `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` per message, HTTP Basic
//! auth with the Account SID and Auth Token, a form body, and a `201` JSON answer with
//! the message's `sid` and `status`. Status callbacks and inbound messages come back as
//! form posts signed with `X-Twilio-Signature`, which [`verify_signature`] checks before
//! [`status_update`] and [`is_opt_out`] read them.
//!
//! Error answers carry `{code, message, more_info, status}`; the codes Herald acts on
//! (from Twilio's error dictionary, <https://www.twilio.com/docs/api/errors/{code}>):
//!
//! | code | Twilio's title | Herald |
//! | --- | --- | --- |
//! | 20003 | Authenticate (wrong SID or token; also a suspended account) | `BadCredentials` |
//! | 20403 | Forbidden (no permission for the resource) | `BadCredentials` |
//! | 20404 | Resource not found (no such account at this base URL) | `BadCredentials` |
//! | 10001 | Account is not active (balance reached $0 or below, account suspended) | `NoCredit` |
//! | 20005 | Account not active ("potentially because you ran out of funds") | `NoCredit` |
//! | 20429 | Too Many Requests | `Unavailable` |
//! | 20500, 20503 | Internal error, Service unavailable | `Unavailable` |
//! | 21211 | Invalid 'To' phone number | `Rejected` |
//! | 21408 | Permission to send an SMS has not been enabled for the region | `Rejected` |
//! | 21610 | Attempt to send to unsubscribed recipient | `Rejected` |
//! | 21614 | 'To' number is not a valid mobile number | `Rejected` |
//!
//! Any other code is classified by the HTTP status (see `by_status` in the parent
//! module): another 4xx refuses the message (`Rejected` with the code), 429 and 5xx are
//! `Unavailable`. Twilio has no dedicated "insufficient funds" code for the Messages
//! API: an account out of funds is suspended, which is what 10001 and 20005 report (and
//! 30002 "Account suspended" in a later status callback's `ErrorCode`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::{ProviderError, Sent};

/// The status a callback reports, shared with the WhatsApp client; also named here so
/// that `twilio::StatusUpdate` reads as the result of [`status_update`].
pub use super::StatusUpdate;

/// Twilio's own API host, the base URL unless an account points at a compatible one.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The credentials and sender of one Twilio (or Twilio-compatible) account: messages go
/// from `from` (a number or alphanumeric sender ID) or, when set, through the
/// Messaging Service `messaging_service_sid`, which then picks the sender itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioAccount {
    /// Scheme and host of the API, without the `/2010-04-01` path: [`DEFAULT_BASE_URL`]
    /// for Twilio itself.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
}

/// The part of Twilio's `201` answer Herald keeps.
#[derive(Deserialize)]
struct Created {
    sid: String,
    status: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

/// The request form: `To`, then `MessagingServiceSid` (preferred when set) or `From`,
/// `Body` (left out when empty, which Twilio allows for a media-only message), one
/// `MediaUrl` per media item, and `StatusCallback` when asked for.
fn form(
    account: &TwilioAccount,
    to: &str,
    body: &str,
    media_urls: &[String],
    status_callback: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut form = vec![("To", to.to_string())];
    match (&account.messaging_service_sid, &account.from) {
        (Some(service), _) if !service.is_empty() => {
            form.push(("MessagingServiceSid", service.clone()))
        }
        (_, Some(from)) => form.push(("From", from.clone())),
        _ => {}
    }
    if !body.is_empty() {
        form.push(("Body", body.to_string()));
    }
    form.extend(media_urls.iter().map(|u| ("MediaUrl", u.clone())));
    if let Some(url) = status_callback {
        form.push(("StatusCallback", url.to_string()));
    }
    form
}

/// The `Authorization` header value: HTTP Basic with the Account SID and Auth Token.
fn basic_auth(account: &TwilioAccount) -> String {
    let pair = format!("{}:{}", account.account_sid, account.auth_token);
    format!("Basic {}", STANDARD.encode(pair))
}

/// Sends one SMS (or MMS, with `media_urls`) to `to` (E.164, `+15551234567`), asking
/// Twilio to post status changes to `status_callback`. The message is accepted when
/// Twilio answers `201`; its `sid` is the id later status callbacks name.
pub fn send(
    agent: &ureq::Agent,
    account: &TwilioAccount,
    to: &str,
    body: &str,
    media_urls: &[String],
    status_callback: Option<&str>,
) -> Result<Sent, ProviderError> {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        account.base_url.trim_end_matches('/'),
        account.account_sid
    );
    let form = form(account, to, body, media_urls, status_callback);
    let result = agent
        .post(&url)
        .header("Authorization", basic_auth(account))
        .header("Accept", "application/json")
        .config()
        .http_status_as_error(false)
        .build()
        .send_form(form.iter().map(|(k, v)| (*k, v.as_str())));
    let answer = super::answer(result)?;
    if !(200..300).contains(&answer.status) {
        return Err(classify(answer.status, &answer.body));
    }
    let created: Created = serde_json::from_str(&answer.body).map_err(|e| {
        ProviderError::Unavailable(format!(
            "answered {} with an unreadable message: {e}",
            answer.status
        ))
    })?;
    Ok(Sent {
        provider_id: created.sid,
        status: created.status.unwrap_or_else(|| "queued".to_string()),
    })
}

/// What an error answer means for the message, by Twilio's error code first (see the
/// module's table) and by HTTP status otherwise.
fn classify(status: u16, body: &str) -> ProviderError {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let code = parsed.as_ref().and_then(|p| match &p.code {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    });
    let message = match parsed.and_then(|p| p.message).filter(|m| !m.is_empty()) {
        Some(m) => m,
        None if body.trim().is_empty() => format!("HTTP {status}"),
        None => format!("HTTP {status}: {}", super::excerpt(body)),
    };
    match code.as_deref() {
        Some("20003" | "20403" | "20404") => ProviderError::BadCredentials(message),
        Some("10001" | "20005") => ProviderError::NoCredit(message),
        Some("20429" | "20500" | "20503") => ProviderError::Unavailable(message),
        Some("21211" | "21408" | "21610" | "21614") => ProviderError::Rejected { code, message },
        _ => super::by_status(status, code, message),
    }
}

/// The `X-Twilio-Signature` Twilio computes for a request to `url` (the full URL it
/// was configured with, query string included) with these form parameters:
/// base64(HMAC-SHA1(auth_token, url + each parameter's name and value, sorted by name
/// then value)). A name sent more than once signs each distinct value once, in sorted
/// order, as Twilio's own SDKs (twilio-php, twilio-python) compute it.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// The HMAC over the signed string, ready to finalize or verify.
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Whether `header` (an `X-Twilio-Signature` value) is Twilio's signature of this
/// request, so that a webhook is known to come from Twilio before it is believed. The
/// comparison takes the same time wherever the bytes differ.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(expected) = STANDARD.decode(header.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&expected).is_ok()
}

/// The first non-empty value of a form parameter.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// Parses a status callback's form params into (MessageSid, MessageStatus, ErrorCode?,
/// ErrorMessage?), so the channels feature can move the message to its new status.
/// `None` when the request is not a status callback (no `MessageSid` or no
/// `MessageStatus`: an inbound message carries `SmsStatus=received` only).
pub fn status_update(params: &[(String, String)]) -> Option<StatusUpdate> {
    let provider_id = param(params, "MessageSid").or_else(|| param(params, "SmsSid"))?;
    let status = param(params, "MessageStatus")?;
    Some(StatusUpdate {
        provider_id: provider_id.to_string(),
        status: status.to_string(),
        error_code: param(params, "ErrorCode").map(str::to_string),
        error_message: param(params, "ErrorMessage").map(str::to_string),
    })
}

/// Whether an inbound message webhook is an opt-out, so Herald stops texting the
/// sender (`From`): Twilio's Advanced Opt-Out reports it as `OptOutType=STOP`;
/// otherwise the whole `Body` is a STOP-family keyword (STOP, STOPALL, UNSUBSCRIBE,
/// CANCEL, END, QUIT, in any case).
pub fn is_opt_out(params: &[(String, String)]) -> bool {
    if param(params, "OptOutType").is_some_and(|t| t.eq_ignore_ascii_case("STOP")) {
        return true;
    }
    param(params, "Body").is_some_and(super::is_opt_out_keyword)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Twilio's documented example (webhook security docs and its SDKs' tests): auth
    /// token `12345`, this URL and these parameters sign to `RSOYDt4T1cUTdK1PDd93/VVr8B8=`.
    fn documented() -> (&'static str, Vec<(String, String)>) {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        ("https://mycompany.com/myapp.php?foo=1&bar=2", params)
    }

    #[test]
    fn the_signature_matches_twilios_documented_example() {
        let (url, mut params) = documented();
        params.reverse();
        assert_eq!(
            signature("12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify_signature(
            "12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        params[0].1.push('0');
        assert!(!verify_signature(
            "12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn repeated_parameters_sign_as_twilios_sdks_do() {
        // twilio-php's test vector for a repeated parameter (`testValidateWithArrayAndDuplicates`).
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn a_malformed_or_wrong_signature_is_refused() {
        let (url, params) = documented();
        assert!(!verify_signature("12345", url, &params, ""));
        assert!(!verify_signature("12345", url, &params, "not base64!"));
        assert!(!verify_signature(
            "54321",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn codes_decide_before_statuses() {
        let body = |code: u32, status: u16| {
            format!(r#"{{"code":{code},"message":"m","more_info":"x","status":{status}}}"#)
        };
        assert!(matches!(
            classify(401, &body(20003, 401)),
            ProviderError::BadCredentials(_)
        ));
        assert!(matches!(
            classify(401, &body(20005, 401)),
            ProviderError::NoCredit(_)
        ));
        assert!(matches!(
            classify(403, &body(10001, 403)),
            ProviderError::NoCredit(_)
        ));
        assert!(classify(429, &body(20429, 429)).is_temporary());
        assert!(classify(503, "<html>down</html>").is_temporary());
        assert_eq!(
            classify(400, &body(21610, 400)),
            ProviderError::Rejected {
                code: Some("21610".into()),
                message: "m".into()
            }
        );
        assert_eq!(
            classify(400, &body(21606, 400)),
            ProviderError::Rejected {
                code: Some("21606".into()),
                message: "m".into()
            }
        );
        assert!(matches!(classify(401, ""), ProviderError::BadCredentials(m) if m == "HTTP 401"));
    }

    #[test]
    fn the_form_prefers_the_messaging_service_and_omits_an_empty_body() {
        let account = TwilioAccount {
            base_url: DEFAULT_BASE_URL.into(),
            account_sid: "AC1".into(),
            auth_token: "t".into(),
            from: Some("+15550000000".into()),
            messaging_service_sid: Some("MG1".into()),
        };
        let media = vec!["https://e.x/a.png".to_string()];
        let form = form(&account, "+15551112222", "", &media, None);
        let names: Vec<&str> = form.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["To", "MessagingServiceSid", "MediaUrl"]);
    }

    #[test]
    fn status_callbacks_and_opt_outs_parse() {
        let update = status_update(&pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("ErrorMessage", ""),
        ]))
        .unwrap();
        assert_eq!(update.provider_id, "SM1");
        assert_eq!(update.error_code.as_deref(), Some("30003"));
        assert_eq!(update.error_message, None);
        assert_eq!(
            status_update(&pairs(&[("SmsSid", "SM1"), ("SmsStatus", "received")])),
            None
        );
        assert!(is_opt_out(&pairs(&[("Body", "Stop")])));
        assert!(is_opt_out(&pairs(&[
            ("Body", "no thanks"),
            ("OptOutType", "STOP")
        ])));
        assert!(!is_opt_out(&pairs(&[
            ("Body", "START"),
            ("OptOutType", "START")
        ])));
    }
}
