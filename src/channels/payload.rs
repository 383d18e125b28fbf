//! The payloads `POST /api/integration/generic` takes (seed 002), checked whole: every bad
//! field is reported at once, as the seed's `details[]`.

use serde_json::{Map, Value, json};

use super::input::is_email;

/// One bad field of a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    fn new(field: &str, message: &str) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The seed's `details[]` entry.
    pub fn to_json(&self) -> Value {
        json!({"field": self.field, "message": self.message})
    }
}

/// Most addresses one send may name in `to` and `bcc` together.
pub const MAX_RECIPIENTS: usize = 50;

/// An email the generic API accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailSend {
    pub to: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub from_name: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

impl EmailSend {
    /// What the message row keeps beside its parts.
    pub fn envelope(&self, channel_uid: &str) -> Value {
        json!({
            "channel": channel_uid,
            "to": self.to,
            "bcc": self.bcc,
            "fromName": self.from_name,
            "inReplyTo": self.in_reply_to,
            "references": self.references,
        })
    }
}

/// A string or a list of strings, as the seed allows for `to`, `bcc` and `references`.
fn one_or_many(v: Option<&Value>, field: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.trim().to_string()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Value::String(s) => Some(s.trim().to_string()),
                _ => {
                    problems.push(Problem::new(&format!("{field}[{i}]"), "must be a string"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            problems.push(Problem::new(
                field,
                "must be a string or an array of strings",
            ));
            Vec::new()
        }
    }
}

fn addresses(v: Option<&Value>, field: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    let list = one_or_many(v, field, problems);
    for (i, a) in list.iter().enumerate() {
        if !is_email(a) {
            let at = if matches!(v, Some(Value::Array(_))) {
                format!("{field}[{i}]")
            } else {
                field.to_string()
            };
            problems.push(Problem::new(&at, "must be an email address"));
        }
    }
    list
}

fn optional_text(
    m: &Map<String, Value>,
    field: &str,
    max: usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match m.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= max => Some(s.clone()),
        Some(Value::String(_)) => {
            problems.push(Problem::new(
                field,
                &format!("must be at most {max} characters"),
            ));
            None
        }
        Some(_) => {
            problems.push(Problem::new(field, "must be a string"));
            None
        }
    }
}

fn one_line(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| !s.contains(['\r', '\n']))
}

/// Plain text shown as HTML, for a send that gave only `body`.
fn text_as_html(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<div style=\"white-space: pre-wrap\">{}</div>",
        escaped.replace('\n', "<br>")
    )
}

/// `to` (required) and `bcc`, within [`MAX_RECIPIENTS`] together.
fn recipients(m: &Map<String, Value>, problems: &mut Vec<Problem>) -> (Vec<String>, Vec<String>) {
    let to = addresses(m.get("to"), "to", problems);
    if to.is_empty() && !problems.iter().any(|p| p.field.starts_with("to")) {
        problems.push(Problem::new("to", "is required"));
    }
    let bcc = addresses(m.get("bcc"), "bcc", problems);
    if to.len() + bcc.len() > MAX_RECIPIENTS {
        problems.push(Problem::new(
            "to",
            &format!("to and bcc may name at most {MAX_RECIPIENTS} addresses"),
        ));
    }
    (to, bcc)
}

/// The required one-line `subject`.
fn subject(m: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<String> {
    let subject = optional_text(m, "subject", 998, problems);
    match &subject {
        Some(s) if !s.trim().is_empty() && one_line(&subject) => {}
        Some(s) if !s.trim().is_empty() => {
            problems.push(Problem::new("subject", "must be one line"))
        }
        _ if !problems.iter().any(|p| p.field == "subject") => {
            problems.push(Problem::new("subject", "is required"))
        }
        _ => {}
    }
    subject
}

/// Reads an email send, or every problem with it.
pub fn email(m: &Map<String, Value>) -> Result<EmailSend, Vec<Problem>> {
    let mut problems = Vec::new();
    for key in m.keys() {
        if !matches!(
            key.as_str(),
            "to" | "subject"
                | "body"
                | "html"
                | "text"
                | "bcc"
                | "fromName"
                | "inReplyTo"
                | "references"
        ) {
            problems.push(Problem::new(key, "is not a field of an email send"));
        }
    }
    let (to, bcc) = recipients(m, &mut problems);
    let subject = subject(m, &mut problems);
    let body = optional_text(m, "body", 1_000_000, &mut problems);
    let html = optional_text(m, "html", 1_000_000, &mut problems);
    let text = optional_text(m, "text", 1_000_000, &mut problems);
    if body.is_none()
        && html.is_none()
        && !problems
            .iter()
            .any(|p| p.field == "body" || p.field == "html")
    {
        problems.push(Problem::new("body", "one of body or html is required"));
    }
    let from_name = optional_text(m, "fromName", 100, &mut problems);
    if !one_line(&from_name) {
        problems.push(Problem::new("fromName", "must be one line"));
    }
    let in_reply_to = optional_text(m, "inReplyTo", 998, &mut problems);
    if !one_line(&in_reply_to) {
        problems.push(Problem::new("inReplyTo", "must be one line"));
    }
    let references = one_or_many(m.get("references"), "references", &mut problems);
    if references.iter().any(|r| r.contains(['\r', '\n', ' '])) {
        problems.push(Problem::new(
            "references",
            "must be message ids without spaces",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (html, text) = match (html, body, text) {
        (Some(html), body, text) => (html, text.or(body).unwrap_or_default()),
        (None, Some(body), text) => (text_as_html(&body), text.unwrap_or(body)),
        (None, None, _) => {
            return Err(vec![Problem::new(
                "body",
                "one of body or html is required",
            )]);
        }
    };
    Ok(EmailSend {
        to,
        bcc,
        subject: subject.unwrap_or_default().trim().to_string(),
        html,
        text,
        from_name: from_name.filter(|s| !s.trim().is_empty()),
        in_reply_to,
        references,
    })
}
