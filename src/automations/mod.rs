//! The automation engine's entry point for ingest.
//!
//! Every occurrence (an event, `contact_added`, `contact_updated`) is offered here in the
//! same transaction that stores it, so matching, enrolling and exiting commit atomically
//! with the event. Automations themselves arrive with the automation engine; until a
//! workspace has any, an occurrence enrolls and exits nothing.

use rusqlite::Connection;

use crate::auth::accounts::WorkspaceId;
use crate::contacts::Contact;
use crate::store::StoreError;

/// What happened to a contact, as automations see it.
#[derive(Debug, Clone, Copy)]
pub enum Occurrence<'a> {
    /// A named event with its properties.
    Event { name: &'a str, event_id: i64 },
    /// The contact was just created.
    ContactAdded,
    /// Some of the contact's properties changed.
    ContactUpdated,
}

/// Counts reported back to the caller of ingest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub enrolled: u32,
    pub exited: u32,
    pub filtered: u32,
}

impl std::ops::AddAssign for Outcome {
    fn add_assign(&mut self, other: Outcome) {
        self.enrolled += other.enrolled;
        self.exited += other.exited;
        self.filtered += other.filtered;
    }
}

/// Matches active automations against an occurrence and enrolls / exits the contact.
pub fn on_occurrence(
    _conn: &Connection,
    _ws: WorkspaceId,
    _contact: &Contact,
    _occurrence: Occurrence<'_>,
) -> Result<Outcome, StoreError> {
    Ok(Outcome::default())
}
