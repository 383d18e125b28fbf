//! The durable job queue: deferred work is a row with a run time, attempts, backoff and a
//! lease carrying a fencing token.
//!
//! A job is claimed by raising its `fence` and moving `due_at` to the lease expiry; if the
//! worker dies the lease runs out and the job is claimed again with a higher fence. A job
//! is finished only by `complete` / `retry` with the fence it was claimed with, inside the
//! same transaction as its effects, so a stale worker's effects roll back with its failed
//! completion and nothing runs twice.

pub mod pool;
pub mod scheduler;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::kinds::WorkspaceId;
use crate::store::{Store, StoreError};

/// What a job does, with its arguments; stored as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Continue a CSV contact import.
    ImportContacts { import_id: i64 },
    /// Periodic clean-up: expired sessions, idempotency records.
    Maintenance,
    /// Send (or retry) one outgoing message.
    SendMessage { message_id: i64 },
    /// Advance an enrollment through its automation's steps.
    RunEnrollment { enrollment_id: i64 },
    /// Call the webhook of an automation step.
    CallWebhook {
        enrollment_id: i64,
        position: String,
    },
}

impl JobKind {
    fn label(&self) -> &'static str {
        match self {
            JobKind::ImportContacts { .. } => "import_contacts",
            JobKind::Maintenance => "maintenance",
            JobKind::SendMessage { .. } => "send_message",
            JobKind::RunEnrollment { .. } => "run_enrollment",
            JobKind::CallWebhook { .. } => "call_webhook",
        }
    }
}

/// What every job runner is given: the store (with its clock), the configuration and
/// the job loop's wake-up. Runners get it from the wiring in `app.rs`, never from a static.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub config: std::sync::Arc<crate::config::Config>,
    pub wakeup: scheduler::Wakeup,
}

/// A claimed job: what to do and the fence that proves the claim.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub fence: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub kind: JobKind,
}

/// The job was taken over by another worker (or is gone): its effects must roll back.
#[derive(Debug, thiserror::Error)]
#[error("job {0} is no longer held by this worker")]
pub struct StaleJob(pub i64);

/// A store's job settings, kept with its instance so code deep in a write can read them.
struct Settings {
    max_attempts: std::sync::atomic::AtomicU32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: std::sync::atomic::AtomicU32::new(10),
        }
    }
}

/// Sets the attempts jobs created in `store`'s writes get (from `jobs.max_attempts`).
pub fn set_max_attempts(store: &Store, n: u32) {
    store
        .instance()
        .cache::<Settings>()
        .max_attempts
        .store(n, std::sync::atomic::Ordering::Relaxed);
}

/// Attempts a job gets before it is marked failed; call inside a read or write.
pub fn max_attempts() -> u32 {
    crate::store::here()
        .cache::<Settings>()
        .max_attempts
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Why a job's attempt failed: it goes back to the queue with backoff, or is marked
/// failed for good once it has used its attempts.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database refused or is unavailable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another worker holds the job now; this attempt's effects rolled back.
    #[error(transparent)]
    Stale(#[from] StaleJob),
    /// The feature's own failure (a refused SMTP send, a webhook that answered 500…).
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl From<tokio::task::JoinError> for JobError {
    fn from(e: tokio::task::JoinError) -> Self {
        JobError::failed(e)
    }
}

impl JobError {
    /// Wraps a feature's error.
    pub fn failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        JobError::Failed(e.into())
    }
}

/// Adds a job due at `due_at` (Unix ms); returns its id.
pub fn enqueue(
    conn: &Connection,
    workspace: Option<WorkspaceId>,
    kind: &JobKind,
    due_at: i64,
    max_attempts: u32,
) -> Result<i64, StoreError> {
    let payload = serde_json::to_string(kind).expect("job kinds serialize");
    conn.prepare_cached(
        "INSERT INTO jobs (workspace_id, kind, payload, due_at, max_attempts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        workspace,
        kind.label(),
        payload,
        due_at,
        max_attempts,
        crate::store::here().now_ms()
    ])?;
    scheduler::note(scheduler::Queue::Jobs);
    Ok(conn.last_insert_rowid())
}

/// Adds a job already claimed by the caller for `lease_ms`, for work a request does at
/// once but that must not be lost: if the process dies before the caller finishes it,
/// the lease runs out and a worker takes the job like any other.
pub fn enqueue_claimed(
    conn: &Connection,
    workspace: Option<WorkspaceId>,
    kind: &JobKind,
    lease_ms: i64,
    max_attempts: u32,
) -> Result<ClaimedJob, StoreError> {
    let payload = serde_json::to_string(kind).expect("job kinds serialize");
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO jobs (workspace_id, kind, payload, due_at, max_attempts, created_at, status, fence, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', 1, 1)",
    )?
    .execute(params![workspace, kind.label(), payload, now + lease_ms, max_attempts, now])?;
    scheduler::note(scheduler::Queue::Jobs);
    Ok(ClaimedJob {
        id: conn.last_insert_rowid(),
        fence: 1,
        attempts: 1,
        max_attempts: max_attempts as i64,
        kind: kind.clone(),
    })
}

/// Whether a job of this kind (same arguments) is waiting or running.
pub fn queued(conn: &Connection, kind: &JobKind) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = ?1 AND payload = ?2 AND status != 'failed')",
        )?
        .query_row(
            params![kind.label(), serde_json::to_string(kind).expect("job kinds serialize")],
            |r| r.get(0),
        )?)
}

/// Claims up to `limit` due jobs (pending and due, or running with an expired lease).
pub fn claim(
    conn: &Connection,
    now: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE jobs SET status = 'running', due_at = ?2, fence = fence + 1, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs WHERE status IN ('pending', 'running') AND due_at <= ?1
                      ORDER BY due_at LIMIT ?3)
         RETURNING id, fence, attempts, max_attempts, payload",
    )?;
    let rows = stmt.query_map(params![now, now + lease_ms, limit as i64], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut jobs = Vec::new();
    for row in rows {
        let (id, fence, attempts, max_attempts, payload) = row?;
        match serde_json::from_str(&payload) {
            Ok(kind) => jobs.push(ClaimedJob {
                id,
                fence,
                attempts,
                max_attempts,
                kind,
            }),
            Err(e) => {
                tracing::error!(job = id, error = %e, "unreadable job payload; marking failed");
                conn.prepare_cached(
                    "UPDATE jobs SET status = 'failed', last_error = ?2 WHERE id = ?1",
                )?
                .execute(params![id, format!("unreadable payload: {e}")])?;
            }
        }
    }
    Ok(jobs)
}

/// Finishes a job for good. Fails with [`StaleJob`] if the claim was lost.
pub fn complete(conn: &Connection, job: &ClaimedJob) -> Result<Result<(), StaleJob>, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM jobs WHERE id = ?1 AND fence = ?2")?
        .execute(params![job.id, job.fence])?;
    Ok(if deleted == 1 {
        Ok(())
    } else {
        Err(StaleJob(job.id))
    })
}

/// Whether the claim is still ours (checked before doing a job's work).
pub fn still_held(conn: &Connection, job: &ClaimedJob) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1 AND fence = ?2 AND status = 'running'")?
        .query_row(params![job.id, job.fence], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at one hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let base = 1000i64.saturating_mul(1 << attempts.clamp(0, 12));
    let capped = base.min(3_600_000);
    let jitter = rand::random::<u64>() % (capped as u64 / 4 + 1);
    capped + jitter as i64
}

/// Puts a failed attempt back in the queue with backoff, or marks the job failed when it
/// has used its attempts. Returns whether it will be retried.
pub fn retry_or_fail(
    conn: &Connection,
    job: &ClaimedJob,
    error: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let retry = job.attempts < job.max_attempts;
    if retry {
        conn.prepare_cached(
            "UPDATE jobs SET status = 'pending', due_at = ?3, last_error = ?4 WHERE id = ?1 AND fence = ?2",
        )?
        .execute(params![job.id, job.fence, now + backoff_ms(job.attempts), error])?;
    } else {
        conn.prepare_cached(
            "UPDATE jobs SET status = 'failed', last_error = ?3 WHERE id = ?1 AND fence = ?2",
        )?
        .execute(params![job.id, job.fence, error])?;
    }
    Ok(retry)
}

/// Puts every running job back in the queue, due at once (see [`scheduler::recover`]).
pub fn release_running(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE jobs SET status = 'pending', due_at = ?1 WHERE status = 'running'",
        [now],
    )?)
}

/// When the next job comes due, if any.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MIN(due_at) FROM jobs WHERE status IN ('pending', 'running')")?
        .query_row([], |r| r.get(0))?)
}

/// Counts by status, for `/metrics`.
pub fn counts(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
