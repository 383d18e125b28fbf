//! The durable step runner: one job advances one enrollment as far as it can in one
//! transaction. Emails and webhook calls become their own jobs (no network I/O inside the
//! transaction); a wait parks the enrollment on the timer queue; a crash resumes from the
//! last committed position, so no completed step is skipped or repeated.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::conditions::{Subject, holds};
use super::definition::{self, Position, Step, parse_duration};
use super::store;
use crate::contacts::{
    Contact, ContactError, ContactPatch, fields, normalize_tags, store as contacts,
};
use crate::delivery::messages::{self, Content, NewMessage};
use crate::events::ingest::{Origin, record_contact_change};
use crate::jobs::{self, ClaimedJob, JobContext, JobError, JobKind};
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Stale(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Contact(#[from] ContactError),
}

impl From<rusqlite::Error> for RunError {
    fn from(e: rusqlite::Error) -> Self {
        RunError::Store(StoreError::from(e))
    }
}

struct Enrollment {
    ws: WorkspaceId,
    automation_id: i64,
    contact_id: i64,
    state: String,
    position: String,
    context: Value,
    wake_at: Option<i64>,
}

fn load(conn: &Connection, id: i64) -> Result<Option<Enrollment>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT e.workspace_id, e.automation_id, e.contact_id, e.state, e.position, ar.context, e.wake_at
                         FROM enrollments e JOIN arrivals ar ON ar.id = ?2 WHERE e.id = ?1")?
        .query_row([id, super::arrivals::arrival_of(id)], |r| {
            let context: String = r.get(5)?;
            Ok(Enrollment {
                ws: r.get(0)?,
                automation_id: r.get(1)?,
                contact_id: r.get(2)?,
                state: r.get(3)?,
                position: r.get(4)?,
                context: serde_json::from_str(&context).unwrap_or(Value::Null),
                wake_at: r.get(6)?,
            })
        })
        .optional()?)
}

fn record(
    conn: &Connection,
    id: i64,
    position: &Position,
    step: &str,
    outcome: &str,
    detail: Option<Value>,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO enrollment_steps (enrollment_id, position, step_type, outcome, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![id, position.render(), step, outcome, detail.map(|d| d.to_string()), crate::store::here().now_ms()])?;
    Ok(())
}

fn finish(conn: &Connection, id: i64, state: &str, error: Option<&str>) -> Result<(), StoreError> {
    let now = crate::store::here().now_ms();
    conn.prepare_cached("UPDATE enrollments SET state = ?2, error = ?3, finished_at = ?4, updated_at = ?4, wake_at = NULL WHERE id = ?1")?
        .execute(params![id, state, error, now])?;
    Ok(())
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

impl From<RunError> for JobError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Store(e) => JobError::Store(e),
            other => JobError::failed(other),
        }
    }
}

/// Advances enrollment `enrollment_id` as far as it can go now.
pub async fn run(ctx: &JobContext, job: &ClaimedJob, enrollment_id: i64) -> Result<(), JobError> {
    let job = job.clone();
    ctx.store
        .write(move |conn| -> Result<(), RunError> {
            if !jobs::still_held(conn, &job)? {
                return Ok(());
            }
            advance(conn, enrollment_id)?;
            jobs::complete(conn, &job)?.map_err(|e| RunError::Stale(e.to_string()))
        })
        .await
        .map_err(JobError::from)
}

/// Runs the enrollment's steps from its position until it waits, ends or fails. Pure
/// database work (emails and webhooks become jobs), so it also runs inline at enrollment.
pub fn advance(conn: &Connection, id: i64) -> Result<(), RunError> {
    let Some(enrollment) = load(conn, id)? else {
        return Ok(());
    };
    if enrollment.state != "active" && enrollment.state != "waiting" {
        return Ok(());
    }
    let Some(automation) = store::get_by_id(conn, enrollment.automation_id)? else {
        return Ok(());
    };
    if automation.def.status != definition::Status::Active {
        // Paused: a waiting enrollment keeps its time off the timer queue until resume.
        if enrollment.state == "waiting" {
            super::timers::hold(conn, automation.id)?;
        }
        return Ok(());
    }
    let now = crate::store::here().now_ms();
    if enrollment.state == "waiting" && enrollment.wake_at.is_some_and(|at| at > now) {
        // Not due yet (a job from before a resume): the timer queue still holds it.
        return Ok(());
    }
    let mut contact = match contacts::get_by_id(conn, enrollment.ws, enrollment.contact_id) {
        Ok(c) => c,
        Err(ContactError::NotFound) => {
            finish(conn, id, "failed", Some("the contact was deleted"))?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let event = object(&enrollment.context["event"]["properties"]);
    let event_name = enrollment.context["event"]["name"]
        .as_str()
        .map(String::from);
    let variables = object(&enrollment.context["variables"]);
    let steps = &automation.def.steps;
    let mut pos = Position::parse(&enrollment.position).unwrap_or_else(Position::start);
    let mut resumed_wait = enrollment.state == "waiting";
    for _ in 0..10_000 {
        let Some(step) = definition::step_at(steps, &pos) else {
            finish(conn, id, "completed", None)?;
            return Ok(());
        };
        let next = match step {
            Step::Email { template, .. } => {
                send_email(
                    conn,
                    id,
                    &enrollment,
                    &contact,
                    &pos,
                    template,
                    &event,
                    &variables,
                )?;
                if conn
                    .prepare_cached("SELECT state FROM enrollments WHERE id = ?1")?
                    .query_row([id], |r| r.get::<_, String>(0))?
                    == "failed"
                {
                    return Ok(());
                }
                definition::next_position(steps, &pos)
            }
            Step::Wait { duration, until } => {
                if resumed_wait {
                    resumed_wait = false;
                    record(conn, id, &pos, "wait", "done", None)?;
                    definition::next_position(steps, &pos)
                } else {
                    let wake = match (duration, until) {
                        (Some(d), _) => now + parse_duration(d).unwrap_or(0),
                        (None, Some(u)) => crate::kinds::time::parse_time(u).unwrap_or(now),
                        _ => now,
                    };
                    if wake <= now {
                        record(
                            conn,
                            id,
                            &pos,
                            "wait",
                            "done",
                            Some(json!({"until": crate::kinds::time::iso_time(wake)})),
                        )?;
                        definition::next_position(steps, &pos)
                    } else {
                        conn.prepare_cached("UPDATE enrollments SET state = 'waiting', position = ?2, wake_at = ?3, updated_at = ?4 WHERE id = ?1")?
                            .execute(params![id, pos.render(), wake, now])?;
                        record(
                            conn,
                            id,
                            &pos,
                            "wait",
                            "waiting",
                            Some(json!({"until": crate::kinds::time::iso_time(wake)})),
                        )?;
                        super::timers::parked(wake);
                        return Ok(());
                    }
                }
            }
            Step::Branch { condition, .. } => {
                let taken = holds(
                    condition,
                    &Subject {
                        contact: &contact,
                        event: &event,
                    },
                );
                record(
                    conn,
                    id,
                    &pos,
                    "branch",
                    if taken { "then" } else { "else" },
                    None,
                )?;
                definition::enter_branch(steps, &pos, taken)
            }
            Step::UpdateContact {
                set,
                add_tags,
                remove_tags,
            } => {
                match update_contact(
                    conn,
                    enrollment.ws,
                    contact.clone(),
                    set,
                    add_tags,
                    remove_tags,
                    event_name.as_deref(),
                ) {
                    Ok(updated) => {
                        contact = updated;
                        record(conn, id, &pos, "update_contact", "done", None)?;
                    }
                    Err(ContactError::Store(e)) => return Err(e.into()),
                    Err(e) => record(
                        conn,
                        id,
                        &pos,
                        "update_contact",
                        "failed",
                        Some(json!({"error": e.to_string()})),
                    )?,
                }
                definition::next_position(steps, &pos)
            }
            Step::Webhook { .. } => {
                jobs::enqueue(
                    conn,
                    Some(enrollment.ws),
                    &JobKind::CallWebhook {
                        enrollment_id: id,
                        position: pos.render(),
                    },
                    now,
                    jobs::max_attempts(),
                )?;
                record(conn, id, &pos, "webhook", "queued", None)?;
                definition::next_position(steps, &pos)
            }
            Step::Exit => {
                record(conn, id, &pos, "exit", "done", None)?;
                finish(conn, id, "completed", None)?;
                return Ok(());
            }
        };
        match next {
            Some(p) => {
                pos = p;
                conn.prepare_cached("UPDATE enrollments SET state = 'active', position = ?2, wake_at = NULL, updated_at = ?3 WHERE id = ?1")?
                    .execute(params![id, pos.render(), now])?;
            }
            None => {
                finish(conn, id, "completed", None)?;
                return Ok(());
            }
        }
    }
    finish(conn, id, "failed", Some("too many steps in one run"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn send_email(
    conn: &Connection,
    id: i64,
    enrollment: &Enrollment,
    contact: &Contact,
    pos: &Position,
    template_uid: &str,
    event: &Map<String, Value>,
    variables: &Map<String, Value>,
) -> Result<(), RunError> {
    let Some(template) = crate::templates::store::get(conn, enrollment.ws, template_uid)? else {
        let error = format!("template '{template_uid}' no longer exists");
        record(
            conn,
            id,
            pos,
            "email",
            "failed",
            Some(json!({"error": error})),
        )?;
        finish(conn, id, "failed", Some(&error))?;
        return Ok(());
    };
    let Some(to) = contact.email.clone() else {
        record(
            conn,
            id,
            pos,
            "email",
            "skipped",
            Some(json!({"reason": "the contact has no email"})),
        )?;
        return Ok(());
    };
    let unsubscribe = crate::delivery::links::in_store().unsubscribe_url(&contact.uid);
    // Rendered by the send job, off the writer thread; a template that fails to render
    // fails that message with the reason.
    let context = crate::templates::context(contact, event, variables, &unsubscribe).to_string();
    let position = pos.render();
    let created = messages::create(
        conn,
        enrollment.ws,
        &NewMessage {
            contact_id: Some(contact.id),
            enrollment_id: Some(id),
            position: Some(&position),
            kind: "marketing",
            to: &to,
            content: Content::Deferred {
                template_id: template.id,
                context,
            },
        },
    )?;
    if let Some(message_id) = created {
        jobs::enqueue(
            conn,
            Some(enrollment.ws),
            &JobKind::SendMessage { message_id },
            crate::store::here().now_ms(),
            jobs::max_attempts(),
        )?;
        record(
            conn,
            id,
            pos,
            "email",
            "queued",
            Some(json!({"template": template.uid})),
        )?;
    }
    Ok(())
}

fn update_contact(
    conn: &Connection,
    ws: WorkspaceId,
    contact: Contact,
    set: &Map<String, Value>,
    add_tags: &[String],
    remove_tags: &[String],
    _event: Option<&str>,
) -> Result<Contact, ContactError> {
    let declared = fields::list(conn, ws)?;
    let mut patch =
        crate::contacts::properties::patch_from_contact_properties(set, &declared, 16 * 1024)?;
    if !add_tags.is_empty() || !remove_tags.is_empty() {
        let mut tags = contact.tags.clone();
        tags.extend(add_tags.iter().cloned());
        tags.retain(|t| !remove_tags.contains(t));
        patch.tags = Some(normalize_tags(&tags)?);
    }
    let patch = ContactPatch { ..patch };
    let (updated, changes) = contacts::apply(conn, contact, &patch)?;
    let origin = Origin {
        kind: "automation",
        detail: None,
        trigger_id: None,
    };
    record_contact_change(conn, ws, &updated, false, &changes, &origin)?;
    Ok(updated)
}

/// Marks an enrollment failed when its job ran out of attempts.
pub async fn mark_failed(ctx: &JobContext, enrollment_id: i64, error: &str) {
    let error = error.to_string();
    let result = ctx
        .store
        .write(move |conn| finish(conn, enrollment_id, "failed", Some(&error)))
        .await;
    if let Err(e) = result {
        tracing::error!(enrollment_id, error = %e, "could not mark enrollment failed");
    }
}
