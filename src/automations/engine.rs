//! Matching, enrolling and exiting, run inside the ingest transaction.

use std::cell::OnceCell;

use rusqlite::{Connection, params};
use serde_json::json;

use super::conditions::{Subject, holds};
use super::definition::{Definition, Frequency, Step, TriggerType, parse_duration};
use super::store::{self, Automation};
use super::{Occurrence, Outcome, Scope};
use crate::auth::accounts::WorkspaceId;
use crate::contacts::Contact;
use crate::jobs::{self, JobKind};
use crate::store::{StoreError, now_ms};

/// Exits the contact's enrollments in automations that exit on this event, then enrolls
/// it in every active automation whose trigger matches and whose filters pass.
pub fn on_occurrence(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    occurrence: Occurrence<'_>,
    scope: &Scope<'_>,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::default();
    if !store::workspace_has_automations(conn, ws)? {
        return Ok(outcome);
    }
    let (kind, event_name) = match occurrence {
        Occurrence::Event { name, .. } => (TriggerType::Event, Some(name)),
        Occurrence::ContactAdded => (TriggerType::ContactAdded, None),
        Occurrence::ContactUpdated if scope.from_automation => return Ok(outcome),
        Occurrence::ContactUpdated => (TriggerType::ContactUpdated, None),
    };
    if let Some(name) = event_name {
        for automation_id in store::exiting_on(conn, ws, name)?.iter() {
            outcome.exited += exit_enrollments(conn, contact.id, *automation_id, name)?;
        }
    }
    let mut batch = Enrollments::new(ws, contact, event_name, scope);
    for automation in store::matching(conn, ws, kind, event_name)?.iter() {
        match consider(conn, contact, automation, scope, &mut batch)? {
            Some(true) => outcome.enrolled += 1,
            Some(false) => outcome.filtered += 1,
            None => {}
        }
    }
    batch.flush(conn)?;
    Ok(outcome)
}

fn exit_enrollments(
    conn: &Connection,
    contact_id: i64,
    automation_id: i64,
    event: &str,
) -> Result<u32, StoreError> {
    let now = now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE enrollments SET state = 'exited', finished_at = ?3, updated_at = ?3, error = ?4
             WHERE contact_id = ?1 AND automation_id = ?2 AND (state = 'active' OR state = 'waiting')",
        )?
        .execute(params![
            contact_id,
            automation_id,
            now,
            format!("exit event {event}")
        ])?;
    Ok(n as u32)
}

/// `Some(true)` enrolled, `Some(false)` filtered out, `None` skipped by frequency.
fn consider(
    conn: &Connection,
    contact: &Contact,
    automation: &Automation,
    scope: &Scope<'_>,
    batch: &mut Enrollments<'_>,
) -> Result<Option<bool>, StoreError> {
    let def: &Definition = &automation.def;
    if def.frequency == Frequency::OncePerContact
        && store::ever_enrolled(conn, automation.id, contact.id)?
    {
        return Ok(None);
    }
    if let Some(filters) = &def.filters
        && !holds(
            filters,
            &Subject {
                contact,
                event: scope.event,
            },
        )
    {
        return Ok(Some(false));
    }
    batch.start(conn, automation, true)?;
    Ok(Some(true))
}

/// Creates an enrollment at the first step and runs or parks it; returns its id.
pub fn enroll(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    automation: &Automation,
    event_name: Option<&str>,
    scope: &Scope<'_>,
) -> Result<i64, StoreError> {
    let mut batch = Enrollments::new(ws, contact, event_name, scope);
    let id = batch.start(conn, automation, false)?;
    Ok(id.expect("an enrollment started without deferring has an id"))
}

/// The enrollments one occurrence starts. They share one context, serialised once, and
/// those parked at a first wait are written together, with one prepared statement, by
/// [`Enrollments::flush`].
struct Enrollments<'a> {
    ws: WorkspaceId,
    contact: &'a Contact,
    event_name: Option<&'a str>,
    scope: &'a Scope<'a>,
    context: OnceCell<String>,
    /// `(automation id, wake time)` of enrollments parked but not yet written.
    parked: Vec<(i64, i64)>,
}

impl<'a> Enrollments<'a> {
    fn new(
        ws: WorkspaceId,
        contact: &'a Contact,
        event_name: Option<&'a str>,
        scope: &'a Scope<'a>,
    ) -> Self {
        Enrollments {
            ws,
            contact,
            event_name,
            scope,
            context: OnceCell::new(),
            parked: Vec::new(),
        }
    }

    fn context(&self) -> &str {
        self.context.get_or_init(|| {
            json!({
                "event": {"name": self.event_name, "properties": self.scope.event},
                "variables": self.scope.variables,
            })
            .to_string()
        })
    }

    /// Starts an enrollment at the first step. One whose first step waits is parked on
    /// the timer queue (with `defer`, written at [`Self::flush`]: `None`); otherwise its
    /// first steps run now, in this transaction, so the caller hears back with the
    /// enrollment already waiting or its first email queued.
    fn start(
        &mut self,
        conn: &Connection,
        automation: &Automation,
        defer: bool,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let first_wait = match automation.def.steps.first() {
            Some(Step::Wait {
                duration: Some(d), ..
            }) => parse_duration(d).map(|ms| now + ms),
            Some(Step::Wait { until: Some(u), .. }) => {
                crate::events::parse_time(u).filter(|at| *at > now)
            }
            _ => None,
        };
        if let Some(at) = first_wait {
            super::timers::parked(at);
            if defer {
                self.parked.push((automation.id, at));
                return Ok(None);
            }
        }
        let state = if first_wait.is_some() {
            "waiting"
        } else {
            "active"
        };
        conn.prepare_cached(
            "INSERT INTO enrollments (workspace_id, automation_id, contact_id, trigger_id, state, position, context, wake_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, '0', ?6, ?7, ?8, ?8)",
        )?
        .execute(params![self.ws, automation.id, self.contact.id, self.scope.trigger_id, state, self.context(), first_wait, now])?;
        let id = conn.last_insert_rowid();
        if first_wait.is_some() {
            return Ok(Some(id));
        }
        match super::runner::advance(conn, id) {
            Ok(()) => {}
            Err(super::runner::RunError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(enrollment = id, error = %e, "first steps failed; retrying from the queue");
                jobs::enqueue(
                    conn,
                    Some(self.ws),
                    &JobKind::RunEnrollment { enrollment_id: id },
                    now,
                    jobs::max_attempts(),
                )?;
            }
        }
        Ok(Some(id))
    }

    /// Writes the parked enrollments. One row per statement on purpose: a statement
    /// that writes several rows makes SQLite journal every page it touches, in case a
    /// later row fails.
    fn flush(self, conn: &Connection) -> Result<(), StoreError> {
        if self.parked.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let context = self.context();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO enrollments (workspace_id, automation_id, contact_id, trigger_id, state, position, context, wake_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'waiting', '0', ?5, ?6, ?7, ?7)",
        )?;
        for (automation_id, wake_at) in &self.parked {
            stmt.execute(params![
                self.ws,
                automation_id,
                self.contact.id,
                self.scope.trigger_id,
                context,
                wake_at,
                now
            ])?;
        }
        Ok(())
    }
}
