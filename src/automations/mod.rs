//! Automations: definitions, the engine that enrolls and exits contacts in the same
//! transaction as the event, the durable step runner, and the API and pages.
//!
//! Every occurrence (an event, `contact_added`, `contact_updated`) is offered to
//! [`on_occurrence`] inside the write that stores it, so matching, enrolling and exiting
//! commit atomically with the event; steps then run from the durable job queue, and
//! waiting enrollments sit on their own timer queue ([`timers`]).

pub mod announce;
pub mod api;
pub mod arrivals;
pub mod conditions;
pub mod definition;
pub mod engine;
pub mod list_steps;
pub mod listing;
pub mod message_steps;
pub mod pages;
pub mod runner;
pub mod signing;
pub mod state;
pub mod step_checks;
pub mod store;
pub mod timers;
pub mod webhook;

pub use engine::on_occurrence;

pub use crate::events::occurrence::{Occurrence, Outcome, Scope};
