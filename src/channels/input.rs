//! Reads a channel from the API's JSON: every field checked, each error naming its field.
//! An update starts from the channel as it is, so a field left out (an SMTP password
//! above all, which is never shown back) keeps its value.

use serde_json::{Map, Value};

use super::WhatsAppNumber;
use super::providers::{twilio, whatsapp};
use super::{Channel, ChannelError, ChannelKind, Mailbox, Settings, SmsNumber, SmtpServer};
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
        self.settings.kind()
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
    let settings = match ChannelKind::parse(&kind) {
        Some(ChannelKind::Email) => Settings::Email(Mailbox {
            from_name: String::new(),
            from_address: String::new(),
            reply_to: None,
            rate_per_second: 0.0,
            smtp: None,
            dkim: None,
        }),
        Some(ChannelKind::Sms) => Settings::Sms(SmsNumber {
            account: twilio::TwilioAccount {
                base_url: twilio::DEFAULT_BASE_URL.into(),
                account_sid: String::new(),
                auth_token: String::new(),
                from: None,
                messaging_service_sid: None,
            },
        }),
        Some(ChannelKind::WhatsApp) => Settings::WhatsApp(WhatsAppNumber {
            account: whatsapp::WhatsAppAccount {
                base_url: whatsapp::DEFAULT_BASE_URL.into(),
                api_version: whatsapp::DEFAULT_API_VERSION.into(),
                phone_number_id: String::new(),
                access_token: String::new(),
            },
            app_secret: String::new(),
            verify_token: super::store::fresh_secret(),
        }),
        None => {
            return Err(invalid(
                "kind",
                "must be \"email\", \"sms\" or \"whatsapp\"",
            ));
        }
    };
    apply(m, String::new(), settings)
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
    apply(m, current.name.clone(), current.settings.clone())
}

/// The fields each kind takes besides `kind` and `name`.
fn fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Email => &[
            "fromName",
            "fromAddress",
            "replyTo",
            "ratePerSecond",
            "smtp",
        ],
        ChannelKind::Sms => &[
            "accountSid",
            "authToken",
            "from",
            "messagingServiceSid",
            "baseUrl",
        ],
        ChannelKind::WhatsApp => &[
            "phoneNumberId",
            "accessToken",
            "appSecret",
            "verifyToken",
            "apiVersion",
            "baseUrl",
        ],
    }
}

fn apply(
    m: &Map<String, Value>,
    name: String,
    settings: Settings,
) -> Result<ChannelInput, ChannelError> {
    let allowed = fields(settings.kind());
    for key in m.keys() {
        if !matches!(key.as_str(), "kind" | "name") && !allowed.contains(&key.as_str()) {
            return Err(invalid(key, "is not a field of this kind of channel"));
        }
    }
    let name = string(m, "name", "name")?.unwrap_or(name);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid("name", "is required, at most 100 characters"));
    }
    let settings = match settings {
        Settings::Email(mailbox) => Settings::Email(apply_mailbox(m, mailbox)?),
        Settings::Sms(number) => Settings::Sms(apply_sms(m, number)?),
        Settings::WhatsApp(number) => Settings::WhatsApp(apply_whatsapp(m, number)?),
    };
    Ok(ChannelInput { name, settings })
}

/// A credential: kept when left out (it is never shown back), required once.
fn secret(
    m: &Map<String, Value>,
    key: &str,
    current: &mut String,
    required: bool,
) -> Result<(), ChannelError> {
    match m.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v.len() <= 512 && !v.contains(['\r', '\n']) => {
            *current = v.trim().to_string()
        }
        Some(_) => return Err(invalid(key, "must be a string of at most 512 characters")),
    }
    if required && current.is_empty() {
        return Err(invalid(key, "is required"));
    }
    Ok(())
}

/// A provider's base URL: http(s), no path beyond `/`.
fn base_url(m: &Map<String, Value>, current: &mut String) -> Result<(), ChannelError> {
    if let Some(v) = string(m, "baseUrl", "baseUrl")? {
        let ok = v.parse::<ureq::http::Uri>().is_ok_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
                && u.path().trim_end_matches('/').is_empty()
                && u.query().is_none()
        });
        if !ok {
            return Err(invalid(
                "baseUrl",
                "must be an http(s) URL with no path, like https://api.twilio.com",
            ));
        }
        *current = v.trim_end_matches('/').to_string();
    }
    Ok(())
}

fn apply_sms(m: &Map<String, Value>, mut n: SmsNumber) -> Result<SmsNumber, ChannelError> {
    let a = &mut n.account;
    secret(m, "accountSid", &mut a.account_sid, true)?;
    if !a.account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            "accountSid",
            "must be letters and digits, like AC…",
        ));
    }
    secret(m, "authToken", &mut a.auth_token, true)?;
    if m.contains_key("from") {
        a.from = string(m, "from", "from")?.filter(|s| !s.is_empty());
    }
    if let Some(from) = &a.from {
        let phone = crate::contacts::normalize_phone(from).is_ok();
        let sender_id = (1..=11).contains(&from.len())
            && from.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
            && from.chars().any(|c| c.is_ascii_alphabetic());
        if !phone && !sender_id {
            return Err(invalid(
                "from",
                "must be an E.164 number (like +14155550123) or an alphanumeric sender ID of at most 11 characters",
            ));
        }
    }
    if m.contains_key("messagingServiceSid") {
        a.messaging_service_sid =
            string(m, "messagingServiceSid", "messagingServiceSid")?.filter(|s| !s.is_empty());
    }
    if a.from.is_none() && a.messaging_service_sid.is_none() {
        return Err(invalid(
            "from",
            "is required unless messagingServiceSid is given",
        ));
    }
    base_url(m, &mut a.base_url)?;
    Ok(n)
}

fn apply_whatsapp(
    m: &Map<String, Value>,
    mut n: WhatsAppNumber,
) -> Result<WhatsAppNumber, ChannelError> {
    let a = &mut n.account;
    secret(m, "phoneNumberId", &mut a.phone_number_id, true)?;
    if !a.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            "phoneNumberId",
            "must be digits (the Cloud API's phone number id)",
        ));
    }
    secret(m, "accessToken", &mut a.access_token, true)?;
    secret(m, "appSecret", &mut n.app_secret, false)?;
    secret(m, "verifyToken", &mut n.verify_token, true)?;
    if let Some(v) = string(m, "apiVersion", "apiVersion")? {
        let ok = v.strip_prefix('v').is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
        if !ok {
            return Err(invalid(
                "apiVersion",
                "must be a Graph API version like v21.0",
            ));
        }
        a.api_version = v;
    }
    base_url(m, &mut a.base_url)?;
    Ok(n)
}

fn apply_mailbox(m: &Map<String, Value>, mut mailbox: Mailbox) -> Result<Mailbox, ChannelError> {
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
    Ok(mailbox)
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
