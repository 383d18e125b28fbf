//! Matching, enrolling and exiting, run inside the ingest transaction.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

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
        for automation_id in store::exiting_on(conn, ws, name)? {
            outcome.exited += exit_enrollments(conn, contact.id, automation_id, name)?;
        }
    }
    for automation in store::matching(conn, ws, kind, event_name)? {
        match consider(conn, ws, contact, &automation, event_name, scope)? {
            Some(true) => outcome.enrolled += 1,
            Some(false) => outcome.filtered += 1,
            None => {}
        }
    }
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
             WHERE contact_id = ?1 AND automation_id = ?2 AND state IN ('active', 'waiting')",
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
    ws: WorkspaceId,
    contact: &Contact,
    automation: &Automation,
    event_name: Option<&str>,
    scope: &Scope<'_>,
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
    enroll(conn, ws, contact, automation, event_name, scope)?;
    Ok(Some(true))
}

/// Creates an enrollment at the first step and queues its runner.
pub fn enroll(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    automation: &Automation,
    event_name: Option<&str>,
    scope: &Scope<'_>,
) -> Result<i64, StoreError> {
    let now = now_ms();
    let context = json!({
        "event": {"name": event_name, "properties": Value::Object(scope.event.clone())},
        "variables": Value::Object(scope.variables.clone()),
    });
    // A first step that waits parks the enrollment right here: one row and one timer.
    let first_wait = match automation.def.steps.first() {
        Some(Step::Wait {
            duration: Some(d), ..
        }) => parse_duration(d).map(|ms| now + ms),
        Some(Step::Wait { until: Some(u), .. }) => {
            crate::events::parse_time(u).filter(|at| *at > now)
        }
        _ => None,
    };
    let (state, wake_at) = match first_wait {
        Some(at) => ("waiting", Some(at)),
        None => ("active", None),
    };
    conn.prepare_cached(
        "INSERT INTO enrollments (workspace_id, automation_id, contact_id, trigger_id, state, position, context, wake_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, '0', ?6, ?7, ?8, ?8)",
    )?
    .execute(params![ws, automation.id, contact.id, scope.trigger_id, state, context.to_string(), wake_at, now])?;
    let id = conn.last_insert_rowid();
    if let Some(at) = wake_at {
        jobs::enqueue(
            conn,
            Some(ws),
            &JobKind::RunEnrollment { enrollment_id: id },
            at,
            jobs::max_attempts(),
        )?;
        return Ok(id);
    }
    // Otherwise the first steps run now, in this transaction: no claim round trip, and the
    // enrollment is already waiting (or its first email queued) when the caller hears back.
    match super::runner::advance(conn, id) {
        Ok(()) => {}
        Err(super::runner::RunError::Store(e)) => return Err(e),
        Err(e) => {
            tracing::warn!(enrollment = id, error = %e, "first steps failed; retrying from the queue");
            jobs::enqueue(
                conn,
                Some(ws),
                &JobKind::RunEnrollment { enrollment_id: id },
                now,
                jobs::max_attempts(),
            )?;
        }
    }
    Ok(id)
}
