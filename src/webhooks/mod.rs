//! Outbound webhooks: endpoints that other systems register to hear what happens in a
//! workspace, delivered the way a dedicated webhook service would.
//!
//! Whatever happens (a contact created, a list joined, a message sent) is written to the
//! outbox in the same transaction as the change ([`outbox::emit`]), but only when some
//! endpoint of the workspace subscribes to it, so a workspace without webhooks pays one
//! cached lookup. Each endpoint keeps a cursor into the outbox: its first attempts are
//! made in outbox order, from a loop off the writer thread ([`dispatch`]), so one slow
//! endpoint delays only itself. A failed attempt leaves a `pending` delivery with its next
//! attempt time (exponential backoff with jitter, or the receiver's `Retry-After`); every
//! attempt is logged with what was sent and what came back. Calls are signed the Standard
//! Webhooks way ([`signing`]) and reach only addresses the SSRF policy allows.

pub mod api;
pub mod catalogue;
pub mod deliveries;
pub mod dispatch;
pub mod input;
pub mod outbox;
pub mod pages;
pub mod sender;
pub mod signing;
pub mod store;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// What can go wrong with a webhook request.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A field of the request is wrong: which one, and why.
    #[error("{field} {message}")]
    Invalid { field: String, message: String },
    #[error("Webhook not found")]
    NotFound,
    #[error("Delivery not found")]
    DeliveryNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// A client mistake in `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        WebhookError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for WebhookError {
    fn from(e: rusqlite::Error) -> Self {
        WebhookError::Store(e.into())
    }
}

/// Whether an endpoint receives deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    Active,
    Disabled,
}

impl EndpointStatus {
    /// The stored and shown word.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Active => "active",
            EndpointStatus::Disabled => "disabled",
        }
    }

    /// The status a stored word names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(EndpointStatus::Active),
            "disabled" => Some(EndpointStatus::Disabled),
            _ => None,
        }
    }
}

/// A registered webhook endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: i64,
    pub uid: String,
    pub workspace_id: WorkspaceId,
    pub workspace_uid: String,
    pub name: String,
    pub url: String,
    /// Event names and patterns (`*`, `contact.*`) it subscribes to.
    pub events: Vec<String>,
    /// `None`: general, every event of the workspace; otherwise one channel's id.
    pub channel: Option<String>,
    /// Extra request headers (an `Authorization` token, say); never shown back in full.
    pub headers: BTreeMap<String, String>,
    pub secret: String,
    /// The secret before the last rotation, and until when it still signs.
    pub previous_secret: Option<(String, i64)>,
    pub retry_attempts: i64,
    pub timeout_ms: i64,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub created_by: String,
    pub cursor: i64,
    pub failing_since: Option<i64>,
    pub consecutive_failures: i64,
    pub last_error: Option<String>,
    pub last_success_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A header value as shown back: its first four characters at most, the rest hidden.
pub fn masked(value: &str) -> String {
    let shown: String = value.chars().take(4).collect();
    if value.chars().count() <= 8 {
        "••••".into()
    } else {
        format!("{shown}••••")
    }
}

impl Endpoint {
    /// The seed's `data` object; the secret in full only when `with_secret` (on create
    /// and rotate), masked otherwise.
    pub fn to_json(&self, with_secret: bool) -> Value {
        let headers: BTreeMap<&str, String> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), masked(v)))
            .collect();
        let secret = if with_secret {
            self.secret.clone()
        } else {
            masked(&self.secret)
        };
        json!({
            "_id": self.uid,
            "workspaceId": self.workspace_uid,
            "name": self.name,
            "url": self.url,
            "events": self.events,
            "secret": secret,
            "retryAttempts": self.retry_attempts,
            "timeoutMs": self.timeout_ms,
            "status": self.status.as_str(),
            "createdBy": self.created_by,
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
            "scope": match &self.channel {
                None => json!({"type": "general"}),
                Some(c) => json!({"type": "channel", "channelId": c}),
            },
            "headers": headers,
            "disabledReason": self.disabled_reason,
            "health": {
                "consecutiveFailures": self.consecutive_failures,
                "failingSince": self.failing_since.map(iso_time),
                "lastError": self.last_error,
                "lastSuccessAt": self.last_success_at.map(iso_time),
            },
        })
    }
}
