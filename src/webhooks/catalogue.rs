//! The events an endpoint can subscribe to, with when each fires and what its payload
//! holds; subscriptions name events exactly or by pattern (`*`, `contact.*`).

use serde_json::{Value, json};

use super::WebhookError;

/// One kind of event.
pub struct EventType {
    pub name: &'static str,
    /// When it fires.
    pub fires: &'static str,
    /// The fields of its `payload`.
    pub payload: &'static str,
}

const fn ev(name: &'static str, fires: &'static str, payload: &'static str) -> EventType {
    EventType {
        name,
        fires,
        payload,
    }
}

/// Every event Herald sends, in the order the README documents them.
pub const CATALOGUE: &[EventType] = &[
    ev(
        "contact.created",
        "a contact is created (by any door: API, form, import, event)",
        "contact",
    ),
    ev(
        "contact.updated",
        "a contact's properties, tags or subscription change",
        "contact, changes[] {field, from, to}",
    ),
    ev(
        "contact.deleted",
        "a contact is deleted or erased",
        "contact {id, email}",
    ),
    ev(
        "contact.unsubscribed",
        "a contact unsubscribes from all marketing mail",
        "contact, source",
    ),
    ev(
        "list.joined",
        "a contact becomes a confirmed member of a list",
        "contact, list {id, name}, source",
    ),
    ev(
        "list.left",
        "a contact leaves a list",
        "contact, list {id, name}, source",
    ),
    ev(
        "form.submitted",
        "a form submission is accepted",
        "contact, form {id, name, slug}, listIds[]",
    ),
    ev(
        "event.received",
        "an event is recorded for a contact",
        "contact, event {id, name, properties, source}",
    ),
    ev(
        "automation.enrolled",
        "a contact enters an automation",
        "contact, automation {id, name}, enrollmentId",
    ),
    ev(
        "automation.exited",
        "an enrollment is ended by an exit event or an exit step",
        "contact, automation {id, name}, enrollmentId, reason",
    ),
    ev(
        "automation.completed",
        "an enrollment runs to the end of its steps",
        "contact, automation {id, name}, enrollmentId",
    ),
    ev(
        "message.queued",
        "an outgoing message is queued",
        "message {id, channel, to, subject, kind, status, providerStatus, reason, attempts, createdAt, sentAt}",
    ),
    ev(
        "message.sent",
        "the mail server or the SMS / WhatsApp provider accepted a message",
        "message {id, channel, to, subject, kind, status, providerStatus, reason, attempts, createdAt, sentAt}",
    ),
    ev(
        "message.delivered",
        "the SMS / WhatsApp provider reported a message delivered to the phone",
        "message {…, providerStatus: delivered}",
    ),
    ev(
        "message.read",
        "WhatsApp reported a message read",
        "message {…, providerStatus: read}",
    ),
    ev(
        "message.failed",
        "a message failed for good",
        "message {…, status: failed, reason}",
    ),
    ev(
        "message.bounced",
        "a message bounced (fires once bounce handling exists)",
        "message",
    ),
    ev(
        "message.opened",
        "a message was opened (fires once open tracking exists)",
        "message",
    ),
    ev(
        "message.clicked",
        "a link in a message was clicked (fires once click tracking exists)",
        "message, url",
    ),
    ev(
        "webhook.test",
        "someone pressed \"send test event\" for this endpoint",
        "endpointId, message",
    ),
];

/// Names the seed's own example subscribes to, for replies Herald does not track: they are
/// accepted so code written against the seed works, and never fire.
pub const RESERVED: &[&str] = &["email.replied", "email.positive_reply"];

/// Whether `name` is an event Herald knows (sent or reserved).
pub fn known(name: &str) -> bool {
    CATALOGUE.iter().any(|e| e.name == name) || RESERVED.contains(&name)
}

/// Whether `pattern` is `*`, a known name, or `prefix.*` for a prefix some known event has.
fn valid_pattern(pattern: &str) -> bool {
    if pattern == "*" || known(pattern) {
        return true;
    }
    pattern.strip_suffix(".*").is_some_and(|prefix| {
        CATALOGUE
            .iter()
            .map(|e| e.name)
            .chain(RESERVED.iter().copied())
            .any(|n| n.split_once('.').is_some_and(|(p, _)| p == prefix))
    })
}

/// Whether a subscription pattern covers `event`.
pub fn covers(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => pattern == event,
    }
}

/// The subscriptions as given: at least one, each a string that names a known event or
/// pattern, trimmed and without duplicates; otherwise a 400 that lists the valid names.
pub fn check(value: Option<&Value>) -> Result<Vec<String>, WebhookError> {
    let items = match value {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(WebhookError::invalid(
                "events",
                "must name at least one event",
            ));
        }
        None | Some(Value::Null) => return Err(WebhookError::invalid("events", "is required")),
        Some(_) => {
            return Err(WebhookError::invalid(
                "events",
                "must be an array of event names",
            ));
        }
    };
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(name) = item.as_str().map(str::trim) else {
            return Err(WebhookError::invalid(
                format!("events[{i}]"),
                "must be a string",
            ));
        };
        if !valid_pattern(name) {
            let valid: Vec<&str> = CATALOGUE.iter().map(|e| e.name).collect();
            return Err(WebhookError::invalid(
                format!("events[{i}]"),
                format!(
                    "'{}' is not an event Herald sends; valid: *, <prefix>.*, {}",
                    name.chars().take(100).collect::<String>(),
                    valid.join(", ")
                ),
            ));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// The catalogue as `GET /api/webhooks/events` answers it.
pub fn to_json() -> Value {
    let events: Vec<Value> = CATALOGUE
        .iter()
        .map(|e| json!({"name": e.name, "fires": e.fires, "payload": e.payload}))
        .collect();
    json!({
        "events": events,
        "reserved": RESERVED,
        "patterns": ["*", "<prefix>.*"],
        "body": "{event, payload, timestamp}",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_what_they_name() {
        assert!(covers("*", "contact.created"));
        assert!(covers("contact.*", "contact.created"));
        assert!(!covers("contact.*", "list.joined"));
        assert!(covers("list.joined", "list.joined"));
        assert!(!covers("list.joined", "list.left"));
    }

    #[test]
    fn unknown_names_are_refused_and_reserved_ones_accepted() {
        assert!(check(Some(&json!(["email.replied", "email.positive_reply"]))).is_ok());
        assert!(check(Some(&json!(["contact.*", "*"]))).is_ok());
        assert!(check(Some(&json!(["contact.exploded"]))).is_err());
        assert!(check(Some(&json!(["nothing.*"]))).is_err());
        assert!(check(Some(&json!([]))).is_err());
    }
}
