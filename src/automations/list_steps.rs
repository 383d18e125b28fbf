//! The list steps of automations: "add to list" joins confirmed (the automation's owner
//! vouches for the consent, and `list_joined` fires for a new member), except for a contact
//! that unsubscribed from that list, whose choice stands; "remove from list" takes the
//! membership away, recorded in its history.

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::contacts::Contact;
use crate::kinds::WorkspaceId;
use crate::lists::confirm::{Joined, add_confirmed};
use crate::lists::{ListError, Source, store as lists};
use crate::store::StoreError;

/// What a list step did.
pub enum ListStep {
    Changed,
    AlreadySo,
    /// The list was deleted after the automation was saved.
    ListGone(String),
    /// The contact unsubscribed from this list, so the step did not add it back.
    OptedOut(String),
}

impl ListStep {
    /// The step outcome recorded in the enrollment history.
    pub fn outcome(&self) -> &'static str {
        match self {
            ListStep::Changed => "done",
            ListStep::AlreadySo => "unchanged",
            ListStep::ListGone(_) | ListStep::OptedOut(_) => "skipped",
        }
    }

    /// The detail recorded with the outcome.
    pub fn detail(&self) -> Option<Value> {
        match self {
            ListStep::ListGone(list) => {
                Some(json!({"reason": format!("list '{list}' no longer exists")}))
            }
            ListStep::OptedOut(list) => Some(json!({
                "reason": format!("the contact unsubscribed from list '{list}'")
            })),
            _ => None,
        }
    }
}

/// Joins (`join`) or leaves the list with this public id.
pub fn apply(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    list_uid: &str,
    join: bool,
) -> Result<ListStep, StoreError> {
    let run = || -> Result<ListStep, ListError> {
        let Some(list) = lists::get(conn, ws, list_uid)? else {
            return Ok(ListStep::ListGone(list_uid.to_string()));
        };
        if join {
            return Ok(
                match add_confirmed(conn, ws, contact, &list, Source::Automation)? {
                    Joined::Now => ListStep::Changed,
                    Joined::Already => ListStep::AlreadySo,
                    Joined::OptedOut => ListStep::OptedOut(list_uid.to_string()),
                },
            );
        }
        Ok(
            match lists::remove(conn, ws, &list, contact.id, Source::Automation)? {
                lists::Removed::Yes => ListStep::Changed,
                lists::Removed::NotMember | lists::Removed::KeptUnsubscribed => ListStep::AlreadySo,
            },
        )
    };
    run().map_err(|e| match e {
        ListError::Store(e) => e,
        other => StoreError::Commit(other.to_string()),
    })
}
