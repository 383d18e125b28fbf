//! The SMS and WhatsApp payloads of `POST /api/integration/generic` (seed 002), checked
//! whole like the email one: every bad field is reported at once in `details[]`.

use serde_json::{Map, Value, json};

use super::payload::Problem;

/// Longest SMS body the seed allows (Twilio's own limit: ten segments).
pub const MAX_SMS_BODY: usize = 1600;
/// Longest WhatsApp text (the Cloud API's limit for a text message body).
pub const MAX_WHATSAPP_MESSAGE: usize = 4096;
/// Most media URLs one message carries (Twilio's MMS limit).
pub const MAX_MEDIA: usize = 10;

/// An SMS or WhatsApp message the generic API accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSend {
    /// The recipient in E.164 with `+`, as contacts keep phone numbers.
    pub to: String,
    pub body: String,
    /// Public URLs the provider fetches and attaches.
    pub media: Vec<String>,
    /// What the message row keeps beside its body (`mediaUrls`, `metadata`, the lead's
    /// `name`, `email`, `url`, `sector`).
    pub envelope: Value,
}

fn problem(field: &str, message: &str) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

fn optional_string(
    m: &Map<String, Value>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 2048 => Some(s.trim().to_string()),
        Some(Value::String(_)) => {
            problems.push(problem(key, "must be at most 2048 characters"));
            None
        }
        Some(_) => {
            problems.push(problem(key, "must be a string"));
            None
        }
    }
}

fn required_text(
    m: &Map<String, Value>,
    key: &str,
    max: usize,
    problems: &mut Vec<Problem>,
) -> String {
    match m.get(key) {
        Some(Value::String(s)) if s.trim().is_empty() => {
            problems.push(problem(key, "must not be empty"));
            String::new()
        }
        Some(Value::String(s)) if s.chars().count() > max => {
            problems.push(problem(key, &format!("must be at most {max} characters")));
            String::new()
        }
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            problems.push(problem(key, "is required"));
            String::new()
        }
        Some(_) => {
            problems.push(problem(key, "must be a string"));
            String::new()
        }
    }
}

fn is_public_url(s: &str) -> bool {
    s.len() <= 2048
        && s.parse::<ureq::http::Uri>().is_ok_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
        })
}

/// A list of public http(s) URLs.
fn urls(m: &Map<String, Value>, key: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    let items = match m.get(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.push(problem(key, "must be a list of URLs"));
            return Vec::new();
        }
    };
    if items.len() > MAX_MEDIA {
        problems.push(problem(key, &format!("must hold at most {MAX_MEDIA} URLs")));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(u) if is_public_url(u.trim()) => out.push(u.trim().to_string()),
            _ => problems.push(problem(&format!("{key}[{i}]"), "must be an http(s) URL")),
        }
    }
    out
}

fn unknown_fields(m: &Map<String, Value>, known: &[&str], problems: &mut Vec<Problem>) {
    for key in m.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(problem(key, "is not a field of this channel's payload"));
        }
    }
}

/// `{to (E.164 with +), body ≤ 1600, mediaUrls?, metadata?}`.
pub fn sms(m: &Map<String, Value>, channel_uid: &str) -> Result<TextSend, Vec<Problem>> {
    let mut problems = Vec::new();
    unknown_fields(m, &["to", "body", "mediaUrls", "metadata"], &mut problems);
    let to = match m.get("to") {
        Some(Value::String(s)) if s.starts_with('+') => {
            match crate::contacts::normalize_phone(s.trim()) {
                Ok(phone) => phone,
                Err(_) => {
                    problems.push(problem("to", "must be an E.164 number like +5511999999999"));
                    String::new()
                }
            }
        }
        None | Some(Value::Null) => {
            problems.push(problem("to", "is required"));
            String::new()
        }
        Some(_) => {
            problems.push(problem(
                "to",
                "must be an E.164 number with +, like +5511999999999",
            ));
            String::new()
        }
    };
    let body = required_text(m, "body", MAX_SMS_BODY, &mut problems);
    let media = urls(m, "mediaUrls", &mut problems);
    let metadata = match m.get("metadata") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(o)) if Value::Object(o.clone()).to_string().len() <= 4096 => {
            Value::Object(o.clone())
        }
        Some(Value::Object(_)) => {
            problems.push(problem("metadata", "must be at most 4 KB of JSON"));
            Value::Null
        }
        Some(_) => {
            problems.push(problem("metadata", "must be an object"));
            Value::Null
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(TextSend {
        envelope: json!({"channel": channel_uid, "mediaUrls": media, "metadata": metadata}),
        to,
        body,
        media,
    })
}

/// `{number (E.164 without +), message, name?, email?, url?, files?, sector?}`.
pub fn whatsapp(m: &Map<String, Value>, channel_uid: &str) -> Result<TextSend, Vec<Problem>> {
    let mut problems = Vec::new();
    let known = [
        "number", "message", "name", "email", "url", "files", "sector",
    ];
    unknown_fields(m, &known, &mut problems);
    let to = match m.get("number") {
        Some(Value::String(s))
            if (8..=15).contains(&s.trim().len())
                && s.trim().chars().all(|c| c.is_ascii_digit()) =>
        {
            format!("+{}", s.trim())
        }
        None | Some(Value::Null) => {
            problems.push(problem("number", "is required"));
            String::new()
        }
        Some(_) => {
            problems.push(problem(
                "number",
                "must be an E.164 number without +, 8 to 15 digits like 5511999999999",
            ));
            String::new()
        }
    };
    let body = required_text(m, "message", MAX_WHATSAPP_MESSAGE, &mut problems);
    let name = optional_string(m, "name", &mut problems);
    let email = optional_string(m, "email", &mut problems).filter(|e| !e.is_empty());
    if email.as_deref().is_some_and(|e| !super::input::is_email(e)) {
        problems.push(problem("email", "must be an email address"));
    }
    let url = optional_string(m, "url", &mut problems).filter(|u| !u.is_empty());
    if url.as_deref().is_some_and(|u| !is_public_url(u)) {
        problems.push(problem("url", "must be an http(s) URL"));
    }
    let sector = optional_string(m, "sector", &mut problems);
    let media = urls(m, "files", &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(TextSend {
        envelope: json!({
            "channel": channel_uid, "files": media, "name": name, "email": email,
            "url": url, "sector": sector,
        }),
        to,
        body,
        media,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn fields(r: Result<TextSend, Vec<Problem>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn the_seeds_sms_example_is_accepted() {
        let s = sms(
            &map(json!({"to": "+5511999999999", "body": "Your code: 123456"})),
            "ch",
        )
        .unwrap();
        assert_eq!(s.to, "+5511999999999");
        assert_eq!(s.body, "Your code: 123456");
    }

    #[test]
    fn every_bad_sms_field_is_named() {
        let body = "x".repeat(MAX_SMS_BODY + 1);
        let r = sms(
            &map(
                json!({"to": "5511999999999", "body": body, "mediaUrls": ["ftp://x"], "metadata": 3}),
            ),
            "ch",
        );
        assert_eq!(fields(r), ["to", "body", "mediaUrls[0]", "metadata"]);
        assert_eq!(fields(sms(&map(json!({})), "ch")), ["to", "body"]);
    }

    #[test]
    fn the_seeds_whatsapp_example_is_accepted() {
        let w = whatsapp(
            &map(json!({
                "name": "WhatsApp Lead", "number": "5511999999999",
                "message": "I want to talk to sales", "email": "lead@company.com",
                "url": "https://landing.com/?utm_source=meta",
                "files": ["https://landing.com/deck.pdf"], "sector": "12"
            })),
            "ch",
        )
        .unwrap();
        assert_eq!(w.to, "+5511999999999");
        assert_eq!(w.media, ["https://landing.com/deck.pdf"]);
        assert_eq!(w.envelope["sector"], "12");
    }

    #[test]
    fn a_whatsapp_number_with_a_plus_or_a_bad_email_is_refused() {
        let r = whatsapp(
            &map(json!({"number": "+5511999999999", "message": "hi", "email": "nope"})),
            "ch",
        );
        assert_eq!(fields(r), ["number", "email"]);
    }
}
