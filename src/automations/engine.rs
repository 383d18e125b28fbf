//! Matching, enrolling and exiting, run inside the ingest transaction.

use super::announce::{News, tell, tell_by_id};
use std::cell::OnceCell;

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::arrivals::{self, NewArrival, Parked, SPAN, Unpack};
use super::conditions::{Subject, holds};
use super::definition::{Definition, Frequency, Status, Step, TriggerType, parse_duration};
use super::store::{self, Automation};
use super::{Occurrence, Outcome, Scope};
use crate::contacts::Contact;
use crate::jobs::{self, JobKind};
use crate::kinds::WorkspaceId;
use crate::store::StoreError;
use crate::webhooks::outbox;

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
        Occurrence::ListJoined { list } => (TriggerType::ListJoined, Some(list)),
    };
    if let (TriggerType::Event, Some(name)) = (kind, event_name) {
        for automation_id in store::exiting_on(conn, ws, name)?.iter() {
            let exited = exit_enrollments(conn, contact.id, *automation_id, name)?;
            outcome.exited += exited.len() as u32;
            let reason = format!("exit event {name}");
            for enrollment_id in exited {
                let news = News {
                    event: "automation.exited",
                    enrollment_id,
                    reason: Some(&reason),
                };
                tell_by_id(conn, ws, contact, *automation_id, &news)?;
            }
        }
    }
    let matching = store::matching(conn, ws, kind, event_name)?;
    if matching.is_empty() {
        return Ok(outcome);
    }
    let occurrence = arrivals::occurrence_key(kind, event_name);
    let mut batch = Enrollments::new(ws, contact, &occurrence, event_name, scope);
    for automation in matching.iter() {
        match consider(conn, contact, automation, scope, &mut batch)? {
            Some(true) => outcome.enrolled += 1,
            Some(false) => outcome.filtered += 1,
            None => {}
        }
    }
    batch.flush(conn)?;
    Ok(outcome)
}

/// Exits the contact's open enrollments in the automation: rows found through the
/// contact's arrivals, and members still parked there. Answers their ids.
fn exit_enrollments(
    conn: &Connection,
    contact_id: i64,
    automation_id: i64,
    event: &str,
) -> Result<Vec<i64>, StoreError> {
    let now = crate::store::here().now_ms();
    let reason = format!("exit event {event}");
    // CROSS JOIN: from the contact's arrivals to their rowid ranges, never through every
    // open enrollment of the automation.
    let mut exited: Vec<i64> = conn
        .prepare_cached(
            "UPDATE enrollments SET state = 'exited', finished_at = ?3, updated_at = ?3, wake_at = NULL, error = ?4
             WHERE id IN (SELECT e.id FROM arrivals ar CROSS JOIN enrollments e
                            ON e.id BETWEEN ar.id * 1024 AND ar.id * 1024 + 1023
                          WHERE ar.contact_id = ?1 AND e.automation_id = ?2
                            AND (e.state = 'active' OR e.state = 'waiting'))
             RETURNING id",
        )?
        .query_map(params![contact_id, automation_id, now, reason], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for arrival in arrivals::parked_of_contact(conn, contact_id)? {
        let unpacked = arrivals::unpack(
            conn,
            &arrival,
            |m| m.automation_id() == automation_id,
            Unpack::Exited { reason: &reason },
        )?;
        exited.extend(unpacked.into_iter().map(|(id, _)| id));
    }
    Ok(exited)
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
                conn,
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
    let mut batch = Enrollments::new(ws, contact, arrivals::DIRECT, event_name, scope);
    let id = batch.start(conn, automation, false)?;
    batch.flush(conn)?;
    Ok(id.expect("an enrollment started without deferring has an id"))
}

/// The enrollments one occurrence starts, under one arrival (a new one every [`SPAN`]).
/// Those parked at a first wait stay in the arrival row, written by [`Enrollments::flush`]
/// together with it when nothing else needed the row earlier.
struct Enrollments<'a> {
    ws: WorkspaceId,
    contact: &'a Contact,
    occurrence: &'a str,
    event_name: Option<&'a str>,
    scope: &'a Scope<'a>,
    context: OnceCell<String>,
    /// The arrival row, once written.
    arrival: Option<i64>,
    /// The next free slot in it.
    next_slot: i64,
    /// Members of this arrival parked at their first wait.
    parked: Vec<Parked>,
    /// How many of them the arrival row holds.
    parked_written: usize,
    created_at: i64,
}

impl<'a> Enrollments<'a> {
    fn new(
        ws: WorkspaceId,
        contact: &'a Contact,
        occurrence: &'a str,
        event_name: Option<&'a str>,
        scope: &'a Scope<'a>,
    ) -> Self {
        Enrollments {
            ws,
            contact,
            occurrence,
            event_name,
            scope,
            context: OnceCell::new(),
            arrival: None,
            next_slot: 0,
            parked: Vec::new(),
            parked_written: 0,
            created_at: crate::store::here().now_ms(),
        }
    }

    fn context(&self) -> &str {
        self.context.get_or_init(|| {
            // Serialised straight from the borrowed maps, without copying them into a tree.
            #[derive(serde::Serialize)]
            struct Event<'e> {
                name: Option<&'e str>,
                properties: &'e Map<String, Value>,
            }
            #[derive(serde::Serialize)]
            struct Context<'e> {
                event: Event<'e>,
                variables: &'e Map<String, Value>,
            }
            serde_json::to_string(&Context {
                event: Event {
                    name: self.event_name,
                    properties: self.scope.event,
                },
                variables: self.scope.variables,
            })
            .expect("a context serializes")
        })
    }

    /// A free slot, starting a new arrival when this one is full.
    fn slot(&mut self, conn: &Connection) -> Result<i64, StoreError> {
        if self.next_slot == SPAN {
            self.flush(conn)?;
            self.arrival = None;
            self.next_slot = 0;
            self.parked.clear();
            self.parked_written = 0;
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// The arrival row, written now (with the members parked so far) if it is not yet.
    fn arrival(&mut self, conn: &Connection) -> Result<i64, StoreError> {
        if let Some(id) = self.arrival {
            return Ok(id);
        }
        let id = arrivals::insert(
            conn,
            &NewArrival {
                ws: self.ws,
                contact_id: self.contact.id,
                trigger_id: self.scope.trigger_id,
                occurrence: self.occurrence,
                context: self.context(),
                created_at: self.created_at,
            },
            &self.parked,
        )?;
        self.parked_written = self.parked.len();
        self.arrival = Some(id);
        Ok(id)
    }

    /// Starts an enrollment at the first step. One whose first step waits is parked in
    /// the arrival (with `defer`: `None`, its id is not needed); otherwise its first
    /// steps run now, in this transaction, so the caller hears back with the enrollment
    /// already waiting or its first email queued.
    fn start(
        &mut self,
        conn: &Connection,
        automation: &Automation,
        defer: bool,
    ) -> Result<Option<i64>, StoreError> {
        let now = self.created_at;
        let first_wait = match automation.def.steps.first() {
            Some(Step::Wait {
                duration: Some(d), ..
            }) => parse_duration(d).map(|ms| now + ms),
            Some(Step::Wait { until: Some(u), .. }) => {
                crate::kinds::time::parse_time(u).filter(|at| *at > now)
            }
            _ => None,
        };
        let slot = self.slot(conn)?;
        if outbox::wants(conn, self.ws, "automation.enrolled", None)? {
            let news = News {
                event: "automation.enrolled",
                enrollment_id: arrivals::enrollment_id(self.arrival(conn)?, slot),
                reason: None,
            };
            tell(conn, self.ws, self.contact, automation, &news)?;
        }
        if let Some(at) = first_wait {
            super::timers::parked(at);
            if defer {
                self.parked.push(Parked(slot, automation.id, at));
                return Ok(None);
            }
        }
        let state = if first_wait.is_some() {
            "waiting"
        } else {
            "active"
        };
        let arrival = self.arrival(conn)?;
        let id = arrivals::enrollment_id(arrival, slot);
        conn.prepare_cached(
            "INSERT INTO enrollments (id, workspace_id, automation_id, contact_id, state, position, wake_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, '0', ?6, ?7, ?7)",
        )?
        .execute(params![id, self.ws, automation.id, self.contact.id, state, first_wait, now])?;
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

    /// Writes the parked members: with the arrival row when it is not written yet (the
    /// usual case, one row for the whole occurrence), or into it.
    fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.parked.len() == self.parked_written {
            return Ok(());
        }
        match self.arrival {
            None => {
                self.arrival(conn)?;
            }
            Some(id) => {
                arrivals::set_parked(conn, id, &self.parked)?;
                self.parked_written = self.parked.len();
            }
        }
        Ok(())
    }
}

/// After a resume, queue a run for every enrollment that stalled mid-run while paused
/// (waiting ones are back on the timer queue already).
pub fn requeue_if_active(conn: &Connection, a: &Automation) -> Result<(), StoreError> {
    if a.def.status != Status::Active {
        return Ok(());
    }
    for (id, ws, wake) in store::active_enrollments(conn, a.id)? {
        jobs::enqueue(
            conn,
            Some(ws),
            &JobKind::RunEnrollment { enrollment_id: id },
            wake.max(crate::store::here().now_ms()),
            jobs::max_attempts(),
        )?;
    }
    Ok(())
}
