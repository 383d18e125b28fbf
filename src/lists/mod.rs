//! Lists: named audiences a contact joins, single or double opt-in, public or private.
//!
//! A contact's membership of a list has one state at a time: `unconfirmed` (signed up to a
//! double opt-in list, link not used yet), `confirmed` (receives the list's mail) or
//! `unsubscribed` (left it; kept so the choice is remembered). Every change is recorded
//! with its time and source in `list_member_changes`. Signups with consent go through
//! [`subscribe`]; the emailed confirmation link ends in [`confirm`].

pub mod api;
pub mod confirm;
pub mod consent;
pub mod pages;
pub mod public;
pub mod store;
pub mod subscribe;

use serde_json::{Value, json};

use crate::contacts::ContactError;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// Failures of the list domain; all but `Store` are the caller's mistake.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// A field of the request is wrong: which one, and why.
    #[error("{field} {message}")]
    Invalid { field: String, message: String },
    #[error("List not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Contact(#[from] ContactError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ListError {
    /// A client mistake in `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ListError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for ListError {
    fn from(e: rusqlite::Error) -> Self {
        ListError::Store(StoreError::from(e))
    }
}

/// How a signup becomes a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptIn {
    /// Confirmed at once.
    Single,
    /// Confirmed only when the contact uses the emailed link.
    Double,
}

impl OptIn {
    pub fn as_str(self) -> &'static str {
        match self {
            OptIn::Single => "single",
            OptIn::Double => "double",
        }
    }

    /// Parses the stored / API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(OptIn::Single),
            "double" => Some(OptIn::Double),
            _ => None,
        }
    }
}

/// The state of one membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    Unconfirmed,
    Confirmed,
    Unsubscribed,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Unconfirmed => "unconfirmed",
            MemberStatus::Confirmed => "confirmed",
            MemberStatus::Unsubscribed => "unsubscribed",
        }
    }

    /// Parses the stored / API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "unconfirmed" => Some(MemberStatus::Unconfirmed),
            "confirmed" => Some(MemberStatus::Confirmed),
            "unsubscribed" => Some(MemberStatus::Unsubscribed),
            _ => None,
        }
    }
}

/// A list as stored, with its member counts.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub description: String,
    pub opt_in: OptIn,
    pub public: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl List {
    /// The API representation.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.uid,
            "name": self.name,
            "description": self.description,
            "optIn": self.opt_in.as_str(),
            "doubleOptIn": self.opt_in == OptIn::Double,
            "public": self.public,
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
        })
    }
}

/// Members of a list by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub unconfirmed: i64,
    pub confirmed: i64,
    pub unsubscribed: i64,
}

impl Counts {
    pub fn to_json(self) -> Value {
        json!({
            "unconfirmed": self.unconfirmed,
            "confirmed": self.confirmed,
            "unsubscribed": self.unsubscribed,
            "total": self.unconfirmed + self.confirmed + self.unsubscribed,
        })
    }
}

/// Where a membership change came from, recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Form,
    Ui,
    /// The confirmation or unsubscribe link in an email, or the preferences page.
    Link,
    Automation,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Form => "form",
            Source::Ui => "ui",
            Source::Link => "link",
            Source::Automation => "automation",
            Source::Import => "import",
        }
    }
}
