//! Clients for the providers that carry Herald's SMS and WhatsApp messages: the
//! Twilio-compatible Messages API ([`twilio`]) and Meta's WhatsApp Cloud API
//! ([`whatsapp`]). Each client makes one blocking HTTP call per message and turns the
//! provider's answer into a [`Sent`] or a [`ProviderError`], whose variant decides what
//! the channels feature does next (fail the message, retry it later, or stop sending on
//! that account); it also reads the provider's status webhooks into [`StatusUpdate`]s.
//!
//! The calls block: the caller runs them on a thread pool. The `ureq::Agent` is the
//! caller's, so its timeouts, proxy and address policy apply; every request here sets
//! `http_status_as_error(false)` on itself so that error answers are read whatever the
//! agent's own setting (an agent that still turns a status into `Err` loses only the
//! error body, and the status alone then decides).

pub mod twilio;
pub mod whatsapp;

use std::io::Read;

/// What a provider answered for an accepted message: its id for the message (what its
/// status webhooks name later) and the status it reported (`queued`, `accepted`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub provider_id: String,
    pub status: String,
}

/// One delivery status a provider reported for a message it accepted earlier, from a
/// status webhook: which message (`provider_id`, as [`Sent::provider_id`]), its new
/// status in the provider's words (`sent`, `delivered`, `read`, `failed`,
/// `undelivered`, …) and, for a failure, the provider's error code and explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub provider_id: String,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// Why a provider call failed; decides the HTTP answer of the generic API and retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The account has no credit / balance (generic API answers 402 PROVIDER_ERROR). Not retried.
    #[error("the provider account has no credit: {0}")]
    NoCredit(String),
    /// The provider refused this message for good (bad number, unreachable, opted out...): failed, not retried. `code` is the provider's error code.
    #[error("the provider refused the message{}: {message}", code.as_deref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Rejected {
        code: Option<String>,
        message: String,
    },
    /// Credentials wrong or revoked. Not retried until fixed.
    #[error("the provider refused the credentials: {0}")]
    BadCredentials(String),
    /// The provider failed or could not be reached (5xx, 429, timeout, connection): retried later; generic API answers 502.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

impl ProviderError {
    /// Whether trying the same message again later may succeed: only when the provider
    /// was unavailable. The other failures need the message or the account changed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_))
    }
}

/// Most bytes of a provider's answer read: enough for any success or error body, and a
/// bound on what a misbehaving endpoint can make Herald hold.
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// A provider's HTTP answer: its status and (the first 64 KB of) its body.
struct Answer {
    status: u16,
    body: String,
}

/// Reads the answer of a call made with `http_status_as_error(false)`. Transport
/// failures (connection refused, DNS, TLS, timeout…) are [`ProviderError::Unavailable`];
/// a status the agent still turned into an error comes back as that status with an
/// empty body, so the caller can classify it by status alone.
fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, ProviderError> {
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut bytes = Vec::new();
            let read = response
                .body_mut()
                .as_reader()
                .take(MAX_BODY_BYTES)
                .read_to_end(&mut bytes);
            if let Err(e) = read
                && (200..300).contains(&status)
            {
                return Err(ProviderError::Unavailable(format!(
                    "answered {status} but its body could not be read: {e}"
                )));
            }
            Ok(Answer {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        }
        Err(ureq::Error::StatusCode(status)) => Ok(Answer {
            status,
            body: String::new(),
        }),
        Err(e) => Err(ProviderError::Unavailable(e.to_string())),
    }
}

/// The classification every provider shares once its own error codes were looked at:
/// 401 and 403 are credentials, 402 is credit, 429 and 5xx (and anything that is not a
/// 4xx) are the provider being unavailable, and any other 4xx refuses the message.
fn by_status(status: u16, code: Option<String>, message: String) -> ProviderError {
    match status {
        401 | 403 => ProviderError::BadCredentials(message),
        402 => ProviderError::NoCredit(message),
        429 => ProviderError::Unavailable(message),
        400..=499 => ProviderError::Rejected { code, message },
        _ => ProviderError::Unavailable(message),
    }
}

/// A short, single-line excerpt of a body for an error message when it has no usable
/// explanation of its own.
fn excerpt(body: &str) -> String {
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    flat.trim().to_string()
}

/// The STOP-family keywords that opt a recipient out when they are the whole inbound
/// message (Twilio's default opt-out keywords; Herald applies the same list to
/// WhatsApp, which has none of its own).
const OPT_OUT_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// Whether an inbound message body is an opt-out keyword (any case, surrounding
/// whitespace ignored).
fn is_opt_out_keyword(body: &str) -> bool {
    let body = body.trim();
    OPT_OUT_KEYWORDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_temporary() {
        assert!(ProviderError::Unavailable("x".into()).is_temporary());
        assert!(!ProviderError::NoCredit("x".into()).is_temporary());
        assert!(!ProviderError::BadCredentials("x".into()).is_temporary());
        let rejected = ProviderError::Rejected {
            code: Some("21211".into()),
            message: "bad".into(),
        };
        assert!(!rejected.is_temporary());
        assert!(rejected.to_string().contains("code 21211"));
    }

    #[test]
    fn statuses_classify_when_no_code_is_known() {
        assert!(matches!(
            by_status(401, None, String::new()),
            ProviderError::BadCredentials(_)
        ));
        assert!(matches!(
            by_status(402, None, String::new()),
            ProviderError::NoCredit(_)
        ));
        assert!(by_status(429, None, String::new()).is_temporary());
        assert!(by_status(503, None, String::new()).is_temporary());
        assert!(by_status(302, None, String::new()).is_temporary());
        assert!(matches!(
            by_status(400, None, String::new()),
            ProviderError::Rejected { .. }
        ));
    }

    #[test]
    fn opt_out_keywords_match_the_whole_body_in_any_case() {
        for body in [
            "STOP",
            "stop",
            " Unsubscribe\n",
            "quit",
            "StopAll",
            "END",
            "cancel",
        ] {
            assert!(is_opt_out_keyword(body), "{body}");
        }
        for body in ["please stop", "STOP!", "", "start", "stopp"] {
            assert!(!is_opt_out_keyword(body), "{body}");
        }
    }
}
