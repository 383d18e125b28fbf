//! What happened to a contact (an event, `contact_added`, `contact_updated`), offered
//! inside the write that stores it to whatever reacts: automations, wired in by `app.rs`
//! through [`set_reaction`] so this layer never imports them.

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::contacts::Contact;
use crate::kinds::WorkspaceId;
use crate::store::{Store, StoreError};

/// What happened to a contact, as automations see it.
#[derive(Debug, Clone, Copy)]
pub enum Occurrence<'a> {
    /// A named event with its properties.
    Event { name: &'a str, event_id: i64 },
    /// The contact was just created.
    ContactAdded,
    /// Some of the contact's properties changed.
    ContactUpdated,
    /// The contact became a confirmed member of the list with this public id.
    ListJoined { list: &'a str },
}

/// The data that comes with an occurrence: what templates and conditions can see.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub event: &'a Map<String, Value>,
    pub variables: &'a Map<String, Value>,
    pub trigger_id: Option<i64>,
    /// Changes made by an automation step do not re-trigger `contact_updated` automations,
    /// so two automations cannot feed each other forever.
    pub from_automation: bool,
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

/// What reacts to an occurrence, inside the same write (automations' `on_occurrence`).
pub type Reaction = fn(
    &Connection,
    WorkspaceId,
    &Contact,
    Occurrence<'_>,
    &Scope<'_>,
) -> Result<Outcome, StoreError>;

/// The reaction wired into one store.
#[derive(Default)]
struct Wired(std::sync::OnceLock<Reaction>);

/// Wires what reacts to occurrences stored through `store` (once, at start).
pub fn set_reaction(store: &Store, reaction: Reaction) {
    let _ = store.instance().cache::<Wired>().0.set(reaction);
}

/// Offers an occurrence to the store's reaction; nothing reacts on a store opened
/// without one (the command line's).
pub fn react(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    occurrence: Occurrence<'_>,
    scope: &Scope<'_>,
) -> Result<Outcome, StoreError> {
    match crate::store::here().cache::<Wired>().0.get() {
        Some(reaction) => reaction(conn, ws, contact, occurrence, scope),
        None => Ok(Outcome::default()),
    }
}
