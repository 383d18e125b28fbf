//! Automations: definitions, the engine that enrolls and exits contacts in the same
//! transaction as the event, the durable step runner, and the API and pages.
//!
//! Every occurrence (an event, `contact_added`, `contact_updated`) is offered to
//! [`on_occurrence`] inside the write that stores it, so matching, enrolling and exiting
//! commit atomically with the event; steps then run from the durable job queue, and
//! waiting enrollments sit on their own timer queue ([`timers`]).

pub mod api;
pub mod arrivals;
pub mod conditions;
pub mod definition;
pub mod engine;
pub mod listing;
pub mod pages;
pub mod runner;
pub mod signing;
pub mod store;
pub mod timers;
pub mod webhook;

use serde_json::{Map, Value};

pub use engine::on_occurrence;

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
