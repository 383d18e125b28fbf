//! Contacts: the people a workspace messages, unique per workspace by lower-cased email,
//! with declared custom fields, tags and a subscription status.

pub mod api;
pub mod export;
pub mod fields;
pub mod pages;
pub mod properties;
pub mod store;

use serde_json::{Map, Value};

use crate::store::StoreError;

/// Failures of the contact domain, each a client mistake except `Store`.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("{0}")]
    Invalid(String),
    #[error("Contact not found")]
    NotFound,
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ContactError {
    fn from(e: rusqlite::Error) -> Self {
        ContactError::Store(StoreError::from(e))
    }
}

/// A contact as the API shows it, borrowed from a [`Contact`]; fields in the order of
/// the JSON object's keys.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactJson<'a> {
    created_at: String,
    email: Option<&'a str>,
    external_id: Option<&'a str>,
    first_name: Option<&'a str>,
    id: &'a str,
    last_name: Option<&'a str>,
    name: Option<&'a str>,
    phone: Option<&'a str>,
    properties: &'a Map<String, Value>,
    subscribed: bool,
    tags: &'a [String],
    updated_at: String,
}

/// A contact as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub uid: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub properties: Map<String, Value>,
    pub tags: Vec<String>,
    pub subscribed: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Contact {
    /// A contact that is only an address: what a template sees for a send to someone not
    /// (or not yet) in the contacts.
    pub fn with_email(email: &str) -> Contact {
        Contact {
            id: 0,
            uid: String::new(),
            email: Some(email.to_string()),
            external_id: None,
            phone: None,
            first_name: None,
            last_name: None,
            name: None,
            properties: Map::new(),
            tags: Vec::new(),
            subscribed: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// The API representation.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.as_json()).unwrap_or(Value::Null)
    }

    /// The API representation, serialized straight from the contact without building a
    /// `Value`: ingest writes it into the webhook outbox with every event it records.
    pub fn as_json(&self) -> ContactJson<'_> {
        ContactJson {
            id: &self.uid,
            email: self.email.as_deref(),
            external_id: self.external_id.as_deref(),
            phone: self.phone.as_deref(),
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            name: self.name.as_deref(),
            properties: &self.properties,
            tags: &self.tags,
            subscribed: self.subscribed,
            created_at: crate::kinds::time::iso_time(self.created_at),
            updated_at: crate::kinds::time::iso_time(self.updated_at),
        }
    }

    /// What people see as the contact's name.
    pub fn display_name(&self) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            return name.to_string();
        }
        let joined = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if joined.is_empty() {
            self.email
                .clone()
                .or(self.external_id.clone())
                .or(self.phone.clone())
                .unwrap_or_default()
        } else {
            joined
        }
    }
}

/// How an incoming event or API call names its contact; tried in this order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.external_id.is_none() && self.email.is_none() && self.phone.is_none()
    }
}

/// A change to a contact's properties: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub email: Option<String>,
    /// Custom fields; `Value::Null` removes one.
    pub properties: Map<String, Value>,
    /// Replaces the tag set when present.
    pub tags: Option<Vec<String>>,
    pub subscribed: Option<bool>,
}

/// Lower-cases and checks an email address.
pub fn normalize_email(raw: &str) -> Result<String, ContactError> {
    crate::auth::normalize_email(raw).map_err(|e| ContactError::Invalid(e.to_string()))
}

/// Checks a phone number is E.164 (`+` then 8 to 15 digits), ignoring spaces and dashes.
pub fn normalize_phone(raw: &str) -> Result<String, ContactError> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(cleaned)
    } else {
        Err(ContactError::Invalid(format!(
            "'{raw}' is not an E.164 phone number (like +14155550123)"
        )))
    }
}

/// Tags: trimmed, 1 to 64 characters, de-duplicated, order kept.
pub fn normalize_tags(raw: &[String]) -> Result<Vec<String>, ContactError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > 64 {
            return Err(ContactError::Invalid(
                "Tags must be 1 to 64 characters".into(),
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    if tags.len() > 100 {
        return Err(ContactError::Invalid(
            "A contact can have at most 100 tags".into(),
        ));
    }
    Ok(tags)
}
