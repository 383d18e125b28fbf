//! Reads a channel from the API's JSON: every field checked, each error naming its field.
//! An update starts from the channel as it is, so a field left out (an SMTP password
//! above all, which is never shown back) keeps its value.

use serde_json::{Map, Value};

use super::{Channel, ChannelError, ChannelKind, Mailbox, Settings, SmtpServer};
use crate::config::SmtpTls;

/// A channel as the API gave it.
#[derive(Debug, Clone)]
pub struct ChannelInput {
    pub name: String,
    pub settings: Settings,
}

impl ChannelInput {
    /// What it sends.
    pub fn kind(&self) -> ChannelKind {
        match self.settings {
            Settings::Email(_) => ChannelKind::Email,
        }
    }
}

fn invalid(field: &str, message: &str) -> ChannelError {
    ChannelError::invalid(field, message)
}

fn string(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, ChannelError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// Whether `s` looks like one email address (what SMTP and lettre accept).
pub fn is_email(s: &str) -> bool {
    s.len() <= 254 && s.parse::<lettre::Address>().is_ok()
}

/// A new channel from a create body.
pub fn parse_new(m: &Map<String, Value>) -> Result<ChannelInput, ChannelError> {
    let kind = string(m, "kind", "kind")?.ok_or_else(|| invalid("kind", "is required"))?;
    match ChannelKind::parse(&kind) {
        Some(ChannelKind::Email) => {}
        None if matches!(kind.as_str(), "sms" | "whatsapp") => {
            return Err(invalid(
                "kind",
                "is not available yet: this version sends email only",
            ));
        }
        None => return Err(invalid("kind", "must be \"email\"")),
    }
    let empty = Mailbox {
        from_name: String::new(),
        from_address: String::new(),
        reply_to: None,
        rate_per_second: 0.0,
        smtp: None,
        dkim: None,
    };
    apply(m, String::new(), empty)
}

/// The channel after an update body.
pub fn parse_update(
    m: &Map<String, Value>,
    current: &Channel,
) -> Result<ChannelInput, ChannelError> {
    if let Some(kind) = string(m, "kind", "kind")?
        && kind != current.kind().as_str()
    {
        return Err(invalid("kind", "cannot change; make a new channel"));
    }
    let Settings::Email(mailbox) = current.settings.clone();
    apply(m, current.name.clone(), mailbox)
}

fn apply(
    m: &Map<String, Value>,
    name: String,
    mut mailbox: Mailbox,
) -> Result<ChannelInput, ChannelError> {
    for key in m.keys() {
        if !matches!(
            key.as_str(),
            "kind" | "name" | "fromName" | "fromAddress" | "replyTo" | "ratePerSecond" | "smtp"
        ) {
            return Err(invalid(key, "is not a channel field"));
        }
    }
    let name = string(m, "name", "name")?.unwrap_or(name);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid("name", "is required, at most 100 characters"));
    }
    if let Some(v) = string(m, "fromName", "fromName")? {
        if v.chars().count() > 100 || v.contains(['\r', '\n']) {
            return Err(invalid(
                "fromName",
                "must be one line of at most 100 characters",
            ));
        }
        mailbox.from_name = v;
    }
    if let Some(v) = string(m, "fromAddress", "fromAddress")? {
        mailbox.from_address = v;
    }
    if !is_email(&mailbox.from_address) {
        return Err(invalid("fromAddress", "must be an email address"));
    }
    if m.contains_key("replyTo") {
        mailbox.reply_to = string(m, "replyTo", "replyTo")?.filter(|s| !s.is_empty());
    }
    if mailbox.reply_to.as_deref().is_some_and(|r| !is_email(r)) {
        return Err(invalid("replyTo", "must be an email address"));
    }
    match m.get("ratePerSecond") {
        None => {}
        Some(Value::Null) => mailbox.rate_per_second = 0.0,
        Some(v) => match v.as_f64() {
            Some(r) if (0.0..=10_000.0).contains(&r) => mailbox.rate_per_second = r,
            _ => return Err(invalid("ratePerSecond", "must be a number from 0 to 10000")),
        },
    }
    match m.get("smtp") {
        None => {}
        Some(Value::Null) => mailbox.smtp = None,
        Some(Value::Object(s)) => mailbox.smtp = Some(smtp(s, mailbox.smtp.take())?),
        Some(_) => return Err(invalid("smtp", "must be an object or null")),
    }
    Ok(ChannelInput {
        name,
        settings: Settings::Email(mailbox),
    })
}

fn smtp(s: &Map<String, Value>, current: Option<SmtpServer>) -> Result<SmtpServer, ChannelError> {
    for key in s.keys() {
        if !matches!(
            key.as_str(),
            "host" | "port" | "tls" | "username" | "password"
        ) {
            return Err(invalid(&format!("smtp.{key}"), "is not an SMTP field"));
        }
    }
    let mut server = current.unwrap_or(SmtpServer {
        host: String::new(),
        port: 587,
        tls: SmtpTls::Starttls,
        username: String::new(),
        password: String::new(),
    });
    if let Some(h) = string(s, "host", "smtp.host")? {
        server.host = h;
    }
    if server.host.is_empty() || server.host.len() > 253 || server.host.contains(['/', ' ']) {
        return Err(invalid("smtp.host", "must be a host name or address"));
    }
    match s.get("port") {
        None => {}
        Some(v) => match v.as_u64() {
            Some(p) if (1..=65_535).contains(&p) => server.port = p as u16,
            _ => return Err(invalid("smtp.port", "must be a port from 1 to 65535")),
        },
    }
    if let Some(t) = string(s, "tls", "smtp.tls")? {
        server.tls = match t.as_str() {
            "none" => SmtpTls::None,
            "starttls" => SmtpTls::Starttls,
            "tls" => SmtpTls::Tls,
            _ => {
                return Err(invalid(
                    "smtp.tls",
                    "must be \"none\", \"starttls\" or \"tls\"",
                ));
            }
        };
    }
    if let Some(u) = string(s, "username", "smtp.username")? {
        server.username = u;
    }
    if let Some(Value::String(p)) = s.get("password") {
        server.password = p.clone();
    } else if s.get("password").is_some_and(|p| !p.is_null()) {
        return Err(invalid("smtp.password", "must be a string"));
    }
    Ok(server)
}
