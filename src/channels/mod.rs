//! Channels: the sending identities of a workspace (an email mailbox now; SMS numbers and
//! WhatsApp instances through providers), each with bearer tokens that let an
//! application send through `POST /api/integration/generic` (seed 002, Sendeasy's).
//!
//! A channel's settings are shown back; its credentials (an SMTP password, a provider's
//! token or secret) are sealed with the install's vault key and never shown back in full.

pub mod api;
pub mod callbacks;
pub mod dkim;
pub mod dns_check;
pub mod generic;
pub mod generic_text;
pub mod input;
pub mod opt_outs;
pub mod pages;
mod pages_dkim;
mod pages_text;
pub mod payload;
pub mod providers;
pub mod store;
pub mod text_payload;

use serde_json::{Map, Value, json};

use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// Failures of the channel domain, each a client mistake except `Store`.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{field} {message}")]
    Invalid { field: String, message: String },
    #[error("Channel not found")]
    NotFound,
    #[error("Token not found")]
    TokenNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ChannelError {
    fn from(e: rusqlite::Error) -> Self {
        ChannelError::Store(e.into())
    }
}

impl ChannelError {
    /// A bad `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ChannelError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Email,
    Sms,
    WhatsApp,
}

impl ChannelKind {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Sms => "sms",
            ChannelKind::WhatsApp => "whatsapp",
        }
    }

    /// The kind named `s`, if Herald sends it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(ChannelKind::Email),
            "sms" => Some(ChannelKind::Sms),
            "whatsapp" => Some(ChannelKind::WhatsApp),
            _ => None,
        }
    }
}

/// An SMS number: a Twilio (or Twilio-compatible) account and the sender it texts from.
#[derive(Debug, Clone, PartialEq)]
pub struct SmsNumber {
    pub account: providers::twilio::TwilioAccount,
}

/// A WhatsApp instance: a Cloud API phone number, and what Meta's webhooks are checked
/// with (the app secret signs them; the verify token answers Meta's subscription check).
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsAppNumber {
    pub account: providers::whatsapp::WhatsAppAccount,
    pub app_secret: String,
    pub verify_token: String,
}

/// An email mailbox's own SMTP server; without one the install's `[smtp]` carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: crate::config::SmtpTls,
    pub username: String,
    pub password: String,
}

/// An email mailbox: who the mail is from and how it leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Mailbox {
    pub from_name: String,
    pub from_address: String,
    pub reply_to: Option<String>,
    /// Messages per second at most; 0 means no limit beyond the server's.
    pub rate_per_second: f64,
    pub smtp: Option<SmtpServer>,
    /// The key every message is signed with, once the owner made or imported one.
    pub dkim: Option<dkim::DkimKey>,
}

impl Mailbox {
    /// The domain of the sender address: what DKIM signs for and where records go.
    pub fn domain(&self) -> &str {
        self.from_address.rsplit('@').next().unwrap_or("")
    }

    /// What to publish, for the owner: the DKIM record, and SPF and DMARC guidance.
    pub fn dns_json(&self) -> Value {
        let domain = self.domain();
        let dkim = self.dkim.as_ref().map(|k| {
            json!({
                "selector": k.selector, "algorithm": k.algorithm.as_str(),
                "name": k.dns_name(domain), "type": "TXT", "value": k.dns_record(),
            })
        });
        json!({
            "domain": domain,
            "dkim": dkim,
            "spf": {"name": domain, "type": "TXT",
                    "value": "v=spf1 include:<your SMTP provider's SPF domain> ~all",
                    "note": "one SPF record per domain: add the servers that send for it to the record you have"},
            "dmarc": {"name": format!("_dmarc.{domain}"), "type": "TXT",
                      "value": format!("v=DMARC1; p=none; rua=mailto:dmarc@{domain}"),
                      "note": "start with p=none, read the reports, then move to quarantine or reject"},
        })
    }
}

/// What a channel is, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Settings {
    Email(Mailbox),
    Sms(SmsNumber),
    WhatsApp(WhatsAppNumber),
}

impl Settings {
    /// What sends through it.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Settings::Email(_) => ChannelKind::Email,
            Settings::Sms(_) => ChannelKind::Sms,
            Settings::WhatsApp(_) => ChannelKind::WhatsApp,
        }
    }
}

/// A channel as stored, credentials opened.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub uid: String,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub settings: Settings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Channel {
    /// What sends through it.
    pub fn kind(&self) -> ChannelKind {
        self.settings.kind()
    }

    /// The API representation; credentials only as whether they are set. `base_url` is
    /// the install's public URL, which provider webhooks are configured with.
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut out = json!({
            "id": self.uid,
            "kind": self.kind().as_str(),
            "name": self.name,
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
        });
        let fields = match &self.settings {
            Settings::Email(m) => mailbox_json(m),
            Settings::Sms(n) => json!({
                "accountSid": n.account.account_sid,
                "authToken": masked(&n.account.auth_token),
                "from": n.account.from,
                "messagingServiceSid": n.account.messaging_service_sid,
                "baseUrl": n.account.base_url,
                "webhookUrl": self.webhook_url(base_url),
            }),
            Settings::WhatsApp(w) => json!({
                "phoneNumberId": w.account.phone_number_id,
                "accessToken": masked(&w.account.access_token),
                "appSecret": masked(&w.app_secret),
                "verifyToken": w.verify_token,
                "apiVersion": w.account.api_version,
                "baseUrl": w.account.base_url,
                "webhookUrl": self.webhook_url(base_url),
            }),
        };
        if let (Value::Object(out), Value::Object(fields)) = (&mut out, fields) {
            out.extend(fields);
        }
        out
    }

    /// Where the provider posts status changes and inbound messages (STOP) for this
    /// channel: given to Twilio with each message, entered by the owner in Meta's app.
    pub fn webhook_url(&self, base_url: &str) -> String {
        format!(
            "{}/api/channels/{}/{}",
            base_url.trim_end_matches('/'),
            self.uid,
            self.kind().as_str()
        )
    }
}

fn mailbox_json(m: &Mailbox) -> Value {
    let smtp = m.smtp.as_ref().map(|s| {
        json!({
            "host": s.host, "port": s.port, "tls": s.tls, "username": s.username,
            "password": masked(&s.password),
        })
    });
    json!({
        "fromName": m.from_name,
        "fromAddress": m.from_address,
        "replyTo": m.reply_to,
        "ratePerSecond": m.rate_per_second,
        "smtp": smtp,
        "dns": m.dns_json(),
    })
}

/// A credential as shown back: that it is set, and its last two characters when long.
pub fn masked(secret: &str) -> Value {
    if secret.is_empty() {
        return Value::Null;
    }
    let n = secret.chars().count();
    let tail: String = if n >= 12 {
        secret.chars().skip(n - 2).collect()
    } else {
        String::new()
    };
    Value::String(format!("********{tail}"))
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub uid: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenInfo {
    /// The API representation.
    pub fn to_json(&self) -> Value {
        let mut v = Map::new();
        v.insert("id".into(), json!(self.uid));
        v.insert("name".into(), json!(self.name));
        v.insert("prefix".into(), json!(self.prefix));
        v.insert("createdAt".into(), json!(iso_time(self.created_at)));
        v.insert("rotatedAt".into(), json!(self.rotated_at.map(iso_time)));
        v.insert("lastUsedAt".into(), json!(self.last_used_at.map(iso_time)));
        Value::Object(v)
    }
}
