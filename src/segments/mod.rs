//! Segments: saved filters over a workspace's contacts (tags, list membership, subscription,
//! declared fields with typed operators, event history, combined with all / any / not).
//!
//! A filter goes through three steps, each in its own file: [`filter`] parses the JSON
//! shape (errors name the path of the bad part), [`check`] resolves it against the
//! workspace (declared fields and their types, lists), and `store::compile` turns the
//! checked filter into parameterised SQL scoped to the workspace. [`summary`] puts a
//! filter in words for the pages. The contacts page and API, automation conditions and,
//! later, broadcasts all read contacts through the same compiled SQL.

pub mod api;
pub mod check;
pub mod filter;
pub mod pages;
pub mod store;
pub mod summary;

use serde_json::{Value, json};

use crate::kinds::time::iso_time;
use crate::store::StoreError;

pub use filter::{Filter, Invalid};

/// Failures of the segment domain; all but `Store` are the caller's mistake.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// A part of the request is wrong: where (`filter.all[1].op`, `name`) and why.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("Segment not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// A saved filter no longer fits the workspace (a field it reads was removed, say);
    /// it stays saved, to be fixed, but selects nobody until then.
    #[error("The segment's filter is no longer valid: {0}")]
    Broken(Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SegmentError {
    /// A client mistake at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        SegmentError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<Invalid> for SegmentError {
    fn from(e: Invalid) -> Self {
        SegmentError::Invalid {
            path: e.path,
            message: e.message,
        }
    }
}

impl From<rusqlite::Error> for SegmentError {
    fn from(e: rusqlite::Error) -> Self {
        SegmentError::Store(StoreError::from(e))
    }
}

impl From<crate::contacts::ContactError> for SegmentError {
    fn from(e: crate::contacts::ContactError) -> Self {
        use crate::contacts::ContactError;
        match e {
            ContactError::Store(e) => SegmentError::Store(e),
            other => SegmentError::invalid("contact", other.to_string()),
        }
    }
}

impl From<crate::lists::ListError> for SegmentError {
    fn from(e: crate::lists::ListError) -> Self {
        use crate::lists::ListError;
        match e {
            ListError::Store(e) => SegmentError::Store(e),
            other => SegmentError::invalid("list", other.to_string()),
        }
    }
}

/// A saved segment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Row id, never shown.
    pub id: i64,
    /// Public id (the API's `id`).
    pub uid: String,
    /// Unique in the workspace, ignoring case.
    pub name: String,
    /// The saved filter, parsed for shape (checked against the workspace when used).
    pub filter: Filter,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl Segment {
    /// The API representation, without counts (they cost a query each).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.uid,
            "name": self.name,
            "filter": self.filter.to_json(),
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
        })
    }
}

/// Checks a segment name: trimmed, 1 to 200 characters.
pub fn check_name(name: &str) -> Result<String, SegmentError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(SegmentError::invalid("name", "must be 1 to 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(SegmentError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}
