//! A source definition as the API and the UI submit it, validated once here so both
//! doors refuse the same mistakes with the same words.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::path;
use crate::events::check_event_name;

/// Longest source name accepted.
const MAX_NAME_CHARS: usize = 100;
/// Longest signing secret accepted; real provider secrets are far shorter.
const MAX_SECRET_BYTES: usize = 512;
/// Standard Webhooks secrets carry this prefix before their base64 key.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// How a source checks that a delivery really came from the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// No check: the URL token is the only credential.
    None,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Standard,
    /// Stripe: `Stripe-Signature: t=…,v1=…`.
    Stripe,
}

impl Scheme {
    /// Every scheme, in the order forms offer them.
    pub const ALL: [Scheme; 3] = [Scheme::None, Scheme::Standard, Scheme::Stripe];

    /// Parses the stored / submitted name.
    pub fn parse(s: &str) -> Option<Scheme> {
        match s {
            "none" => Some(Scheme::None),
            "standard" => Some(Scheme::Standard),
            "stripe" => Some(Scheme::Stripe),
            _ => None,
        }
    }

    /// The stored / API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::None => "none",
            Scheme::Standard => "standard",
            Scheme::Stripe => "stripe",
        }
    }

    /// The name people read in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Scheme::None => "None (URL only)",
            Scheme::Standard => "Standard Webhooks",
            Scheme::Stripe => "Stripe",
        }
    }
}

/// Where a source finds the event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventNameRule {
    /// Every delivery becomes this event.
    Fixed(String),
    /// The name is read from the payload at this dot-path.
    Path(String),
}

/// Raw fields as submitted; empty strings count as absent (HTML forms send them).
#[derive(Debug, Default, Clone)]
pub struct SpecInput {
    pub name: Option<String>,
    pub email_path: Option<String>,
    pub event_name: Option<String>,
    pub event_name_path: Option<String>,
    pub signature: Option<String>,
    pub signing_secret: Option<String>,
}

/// A validated source definition, ready to store.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    pub email_path: String,
    pub event_name: EventNameRule,
    pub scheme: Scheme,
    pub signing_secret: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl SourceSpec {
    /// Checks a submitted definition; the error names the field and the problem.
    pub fn validate(input: &SpecInput) -> Result<SourceSpec, String> {
        let name = check_name(present(&input.name).unwrap_or(""))?;
        let email_path = present(&input.email_path).ok_or("emailPath is required")?;
        path::check(email_path).map_err(|m| format!("emailPath {m}"))?;
        let event_name = match (present(&input.event_name), present(&input.event_name_path)) {
            (Some(_), Some(_)) => {
                return Err("give exactly one of eventName or eventNamePath, not both".into());
            }
            (None, None) => {
                return Err("eventName or eventNamePath is required (exactly one)".into());
            }
            (Some(fixed), None) => EventNameRule::Fixed(
                check_event_name(fixed).map_err(|m| m.replace("Event name", "eventName"))?,
            ),
            (None, Some(p)) => {
                path::check(p).map_err(|m| format!("eventNamePath {m}"))?;
                EventNameRule::Path(p.to_string())
            }
        };
        let scheme = match present(&input.signature) {
            None => Scheme::None,
            Some(s) => Scheme::parse(s).ok_or_else(|| {
                format!("signature must be one of none, standard, stripe (got '{s}')")
            })?,
        };
        let signing_secret = check_secret(scheme, present(&input.signing_secret))?;
        Ok(SourceSpec {
            name,
            email_path: email_path.to_string(),
            event_name,
            scheme,
            signing_secret,
        })
    }
}

/// Checks a source name (also used when renaming).
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name is required".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_string())
}

fn check_secret(scheme: Scheme, secret: Option<&str>) -> Result<Option<String>, String> {
    if let Some(s) = secret
        && s.len() > MAX_SECRET_BYTES
    {
        return Err(format!(
            "signingSecret must be at most {MAX_SECRET_BYTES} bytes"
        ));
    }
    match (scheme, secret) {
        (Scheme::None, None) => Ok(None),
        (Scheme::None, Some(_)) => {
            Err("signingSecret is only used with signature 'standard' or 'stripe'".into())
        }
        (_, None) => Err(format!(
            "signingSecret is required for the {} signature scheme",
            scheme.as_str()
        )),
        (Scheme::Standard, Some(s)) => {
            standard_key(s)?;
            Ok(Some(s.to_string()))
        }
        (Scheme::Stripe, Some(s)) => Ok(Some(s.to_string())),
    }
}

/// The HMAC key of a Standard Webhooks secret: the base64 part after `whsec_`.
pub fn standard_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix(STANDARD_SECRET_PREFIX)
        .ok_or("signingSecret for the standard scheme must start with whsec_ followed by base64")?;
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err("signingSecret for the standard scheme must be whsec_ followed by base64".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> SpecInput {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        SpecInput {
            name: get("name"),
            email_path: get("emailPath"),
            event_name: get("eventName"),
            event_name_path: get("eventNamePath"),
            signature: get("signature"),
            signing_secret: get("signingSecret"),
        }
    }

    #[test]
    fn exactly_one_event_name_source_is_required() {
        let both = input(&[
            ("name", "s"),
            ("emailPath", "e"),
            ("eventName", "a"),
            ("eventNamePath", "b"),
        ]);
        assert!(
            SourceSpec::validate(&both)
                .unwrap_err()
                .contains("not both")
        );
        let neither = input(&[("name", "s"), ("emailPath", "e")]);
        assert!(
            SourceSpec::validate(&neither)
                .unwrap_err()
                .contains("exactly one")
        );
    }

    #[test]
    fn standard_secrets_must_be_whsec_base64() {
        let bad = input(&[
            ("name", "s"),
            ("emailPath", "e"),
            ("eventName", "a"),
            ("signature", "standard"),
            ("signingSecret", "plain"),
        ]);
        assert!(SourceSpec::validate(&bad).unwrap_err().contains("whsec_"));
        let good = input(&[
            ("name", "s"),
            ("emailPath", "e"),
            ("eventName", "a"),
            ("signature", "standard"),
            ("signingSecret", "whsec_c2VjcmV0"),
        ]);
        assert_eq!(
            SourceSpec::validate(&good).unwrap().scheme,
            Scheme::Standard
        );
    }
}
