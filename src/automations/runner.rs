//! The durable step runner: one job advances one enrollment as far as it can in one
//! transaction. Emails and webhook calls become their own jobs (no network I/O inside the
//! transaction); a wait parks the enrollment on the timer queue; a crash resumes from the
//! last committed position, so no completed step is skipped or repeated.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::announce::{News, tell};
use super::conditions::{Subject, holds};
use super::definition::{self, Position, Step, parse_duration};
use super::message_steps::{MessageStep, Scope};
use super::store;
use crate::channels::ChannelKind;
use crate::contacts::{
    Contact, ContactError, ContactPatch, fields, normalize_tags, store as contacts,
};
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

pub use super::state::EnrollmentState;

struct Enrollment {
    ws: WorkspaceId,
    automation_id: i64,
    contact_id: i64,
    state: EnrollmentState,
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

pub(super) fn record(
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

pub(super) fn finish(
    conn: &Connection,
    id: i64,
    state: EnrollmentState,
    error: Option<&str>,
) -> Result<(), StoreError> {
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
    let Some(automation) = runnable_automation(conn, &enrollment)? else {
        return Ok(());
    };
    let now = crate::store::here().now_ms();
    if enrollment.state == EnrollmentState::Waiting && enrollment.wake_at.is_some_and(|at| at > now)
    {
        // Not due yet (a job from before a resume): the timer queue still holds it.
        return Ok(());
    }
    let contact = match contacts::get_by_id(conn, enrollment.ws, enrollment.contact_id) {
        Ok(c) => c,
        Err(ContactError::NotFound) => {
            finish(
                conn,
                id,
                EnrollmentState::Failed,
                Some("the contact was deleted"),
            )?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let mut run = Run {
        conn,
        id,
        enrollment: &enrollment,
        automation: &automation,
        steps: &automation.def.steps,
        event: object(&enrollment.context["event"]["properties"]),
        event_name: enrollment.context["event"]["name"]
            .as_str()
            .map(String::from),
        variables: object(&enrollment.context["variables"]),
        contact,
        now,
        resumed_wait: enrollment.state == EnrollmentState::Waiting,
    };
    let start = Position::parse(&enrollment.position).unwrap_or_else(Position::start);
    run.steps_from(start)
}

/// The automation an enrollment runs, when it should run now: the enrollment is still
/// running and the automation exists and is active. A paused automation keeps a waiting
/// enrollment's time off the timer queue until it resumes.
fn runnable_automation(
    conn: &Connection,
    enrollment: &Enrollment,
) -> Result<Option<store::Automation>, RunError> {
    if !enrollment.state.is_running() {
        return Ok(None);
    }
    let Some(automation) = store::get_by_id(conn, enrollment.automation_id)? else {
        return Ok(None);
    };
    if automation.def.status != definition::Status::Active {
        if enrollment.state == EnrollmentState::Waiting {
            super::timers::hold(conn, automation.id)?;
        }
        return Ok(None);
    }
    Ok(Some(automation))
}

/// One run of one enrollment: what its steps see, and the contact as the steps change it.
struct Run<'a> {
    conn: &'a Connection,
    id: i64,
    enrollment: &'a Enrollment,
    automation: &'a store::Automation,
    steps: &'a [Step],
    event: Map<String, Value>,
    event_name: Option<String>,
    variables: Map<String, Value>,
    contact: Contact,
    now: i64,
    /// The run resumes a wait that came due: that wait step is done, not started again.
    resumed_wait: bool,
}

/// What a step leaves the run to do.
enum Flow {
    /// Go on at this position; `None` means the steps are used up.
    Next(Option<Position>),
    /// The step parked, ended or failed the enrollment.
    Stop,
}

impl Run<'_> {
    /// Runs steps from `pos`, saving each new position, until one stops the run or the
    /// steps run out; a runaway definition fails after 10,000 steps in one run.
    fn steps_from(&mut self, mut pos: Position) -> Result<(), RunError> {
        for _ in 0..10_000 {
            let Some(step) = definition::step_at(self.steps, &pos) else {
                return self.end("automation.completed", None);
            };
            let Flow::Next(next) = self.step(step, &pos)? else {
                return Ok(());
            };
            let Some(next) = next else {
                return self.end("automation.completed", None);
            };
            pos = next;
            self.conn.prepare_cached("UPDATE enrollments SET state = 'active', position = ?2, wake_at = NULL, updated_at = ?3 WHERE id = ?1")?
                .execute(params![self.id, pos.render(), self.now])?;
        }
        finish(
            self.conn,
            self.id,
            EnrollmentState::Failed,
            Some("too many steps in one run"),
        )?;
        Ok(())
    }

    /// Ends the run completed (by an exit step too) and tells the webhooks as `event`.
    fn end(&self, event: &'static str, reason: Option<&str>) -> Result<(), RunError> {
        finish(self.conn, self.id, EnrollmentState::Completed, None)?;
        let news = News {
            event,
            enrollment_id: self.id,
            reason,
        };
        tell(
            self.conn,
            self.enrollment.ws,
            &self.contact,
            self.automation,
            &news,
        )?;
        Ok(())
    }

    /// Runs the one step at `pos`.
    fn step(&mut self, step: &Step, pos: &Position) -> Result<Flow, RunError> {
        match step {
            Step::Email { template, channel } => {
                self.message(pos, ChannelKind::Email, template, channel.as_deref())
            }
            Step::Sms { template, channel } => {
                self.message(pos, ChannelKind::Sms, template, Some(channel))
            }
            Step::Whatsapp { template, channel } => {
                self.message(pos, ChannelKind::WhatsApp, template, Some(channel))
            }
            Step::Wait { duration, until } => self.wait(pos, duration.as_deref(), until.as_deref()),
            Step::Branch { condition, .. } => self.branch(pos, condition),
            Step::UpdateContact {
                set,
                add_tags,
                remove_tags,
            } => self.update_contact(pos, set, add_tags, remove_tags),
            Step::Webhook { .. } => self.webhook(pos),
            Step::AddToList { list } => self.list_step(pos, list, true),
            Step::RemoveFromList { list } => self.list_step(pos, list, false),
            Step::Exit => {
                record(self.conn, self.id, pos, "exit", "done", None)?;
                self.end("automation.exited", Some("exit step"))?;
                Ok(Flow::Stop)
            }
        }
    }

    /// Joins or leaves a list; a list deleted since the automation was saved is skipped.
    fn list_step(&mut self, pos: &Position, list: &str, join: bool) -> Result<Flow, RunError> {
        let kind = if join {
            "add_to_list"
        } else {
            "remove_from_list"
        };
        let done =
            super::list_steps::apply(self.conn, self.enrollment.ws, &self.contact, list, join)?;
        record(self.conn, self.id, pos, kind, done.outcome(), done.detail())?;
        Ok(Flow::Next(definition::next_position(self.steps, pos)))
    }

    /// Queues the message (or records why not); stops when that failed the enrollment.
    fn message(
        &mut self,
        pos: &Position,
        kind: ChannelKind,
        template: &str,
        channel: Option<&str>,
    ) -> Result<Flow, RunError> {
        let step = MessageStep {
            pos,
            kind,
            template,
            channel,
        };
        let scope = Scope {
            ws: self.enrollment.ws,
            enrollment_id: self.id,
            contact: &self.contact,
            event: &self.event,
            variables: &self.variables,
        };
        super::message_steps::send(self.conn, &scope, &step)?;
        if state_of(self.conn, self.id)? == EnrollmentState::Failed {
            return Ok(Flow::Stop);
        }
        Ok(Flow::Next(definition::next_position(self.steps, pos)))
    }

    /// Finishes a wait that came due or is already over, or parks the enrollment on the
    /// timer queue until the wait ends.
    fn wait(
        &mut self,
        pos: &Position,
        duration: Option<&str>,
        until: Option<&str>,
    ) -> Result<Flow, RunError> {
        let (conn, id, now) = (self.conn, self.id, self.now);
        if self.resumed_wait {
            self.resumed_wait = false;
            record(conn, id, pos, "wait", "done", None)?;
            return Ok(Flow::Next(definition::next_position(self.steps, pos)));
        }
        let wake = match (duration, until) {
            (Some(d), _) => now + parse_duration(d).unwrap_or(0),
            (None, Some(u)) => crate::kinds::time::parse_time(u).unwrap_or(now),
            _ => now,
        };
        let until = Some(json!({"until": crate::kinds::time::iso_time(wake)}));
        if wake <= now {
            record(conn, id, pos, "wait", "done", until)?;
            return Ok(Flow::Next(definition::next_position(self.steps, pos)));
        }
        conn.prepare_cached("UPDATE enrollments SET state = 'waiting', position = ?2, wake_at = ?3, updated_at = ?4 WHERE id = ?1")?
            .execute(params![id, pos.render(), wake, now])?;
        record(conn, id, pos, "wait", "waiting", until)?;
        super::timers::parked(wake);
        Ok(Flow::Stop)
    }

    /// Takes `then` or `else` by the condition on the contact and the event.
    fn branch(
        &mut self,
        pos: &Position,
        condition: &definition::Condition,
    ) -> Result<Flow, RunError> {
        let taken = holds(
            condition,
            &Subject {
                contact: &self.contact,
                event: &self.event,
                conn: self.conn,
            },
        );
        let outcome = if taken { "then" } else { "else" };
        record(self.conn, self.id, pos, "branch", outcome, None)?;
        Ok(Flow::Next(definition::enter_branch(self.steps, pos, taken)))
    }

    /// Applies the step's changes to the contact; a refused change is recorded and the
    /// run goes on.
    fn update_contact(
        &mut self,
        pos: &Position,
        set: &Map<String, Value>,
        add_tags: &[String],
        remove_tags: &[String],
    ) -> Result<Flow, RunError> {
        let (conn, id) = (self.conn, self.id);
        match update_contact(
            conn,
            self.enrollment.ws,
            self.contact.clone(),
            set,
            add_tags,
            remove_tags,
            self.event_name.as_deref(),
        ) {
            Ok(updated) => {
                self.contact = updated;
                record(conn, id, pos, "update_contact", "done", None)?;
            }
            Err(ContactError::Store(e)) => return Err(e.into()),
            Err(e) => record(
                conn,
                id,
                pos,
                "update_contact",
                "failed",
                Some(json!({"error": e.to_string()})),
            )?,
        }
        Ok(Flow::Next(definition::next_position(self.steps, pos)))
    }

    /// Queues the webhook call as its own job: no network I/O inside the transaction.
    fn webhook(&mut self, pos: &Position) -> Result<Flow, RunError> {
        jobs::enqueue(
            self.conn,
            Some(self.enrollment.ws),
            &JobKind::CallWebhook {
                enrollment_id: self.id,
                position: pos.render(),
            },
            self.now,
            jobs::max_attempts(),
        )?;
        record(self.conn, self.id, pos, "webhook", "queued", None)?;
        Ok(Flow::Next(definition::next_position(self.steps, pos)))
    }
}

/// The enrollment's state as stored now (a step may have just changed it).
pub(super) fn state_of(conn: &Connection, id: i64) -> Result<EnrollmentState, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM enrollments WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?)
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
    // Read the row again: a step earlier in this run may have started another automation
    // that changed the contact (a list join's welcome tag, say), and that change must stay.
    let contact = contacts::get_by_id(conn, ws, contact.id)?;
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
        .write(move |conn| finish(conn, enrollment_id, EnrollmentState::Failed, Some(&error)))
        .await;
    if let Err(e) = result {
        tracing::error!(enrollment_id, error = %e, "could not mark enrollment failed");
    }
}
