//! The v1 trigger queue as stored: a `triggers` row is the durable queue entry for one
//! event sent through the v1 API, ingested by a background loop now or at `trigger_at` in
//! one transaction that also completes it, and reported with live counts.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ingest::{NewEvent, Origin, ingest_with_variables};
use crate::contacts::{ContactError, ContactPatch, Identity};
use crate::jobs;
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;
use crate::store::batch::{ItemError, run_isolated};

/// The queued form of an event, stored on its trigger until a worker ingests it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub event_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub custom_fields: Map<String, Value>,
    pub event_data: Map<String, Value>,
    pub variables: Map<String, Value>,
    pub source: Value,
}

impl QueuedEvent {
    fn identity(&self) -> Identity {
        Identity {
            external_id: self.external_id.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
        }
    }

    fn patch(&self) -> ContactPatch {
        ContactPatch {
            name: self.name.clone().map(Some),
            properties: self.custom_fields.clone(),
            ..ContactPatch::default()
        }
    }
}

/// Queues an event: `scheduled` for `trigger_at` when given, else `queued` for now.
/// Returns the trigger's public id and its row id (the job id the v1 API reports).
pub fn insert(
    conn: &Connection,
    ws: WorkspaceId,
    event_name: &str,
    payload: &str,
    trigger_at: Option<i64>,
) -> Result<(String, i64), StoreError> {
    let now = crate::store::here().now_ms();
    let uid = uuid::Uuid::now_v7().to_string();
    let status = if trigger_at.is_some() {
        "scheduled"
    } else {
        "queued"
    };
    conn.prepare_cached(
        "INSERT INTO triggers (uid, workspace_id, event_name, status, payload, scheduled_for, due_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![uid, ws, event_name, status, payload, trigger_at, trigger_at.unwrap_or(now), now])?;
    let job_id = conn.last_insert_rowid();
    jobs::scheduler::note(jobs::scheduler::Queue::Triggers);
    Ok((uid, job_id))
}

/// Ingests every due queued or scheduled trigger (up to `limit`), each exactly once: its
/// ingest and its move to `completed` commit together in this transaction. A trigger whose
/// ingest is refused (e.g. a conflicting contact) is marked failed with the reason.
/// Returns how many were handled.
pub fn process_due(conn: &Connection, now: i64, limit: usize) -> Result<usize, StoreError> {
    let due = due(conn, now, limit)?;
    run_isolated(
        conn,
        &due,
        |conn, (trigger_id, ws, payload)| {
            ingest_trigger(conn, *trigger_id, *ws, payload).map_err(|e| match e {
                ProcessError::Store(e) => ItemError::Fatal(e),
                other => ItemError::Failed(other),
            })
        },
        |conn, (trigger_id, _, _), e| fail(conn, *trigger_id, &e.to_string()),
    )?;
    Ok(due.len())
}

/// The due queued or scheduled triggers, oldest first: row id, workspace and payload.
fn due(
    conn: &Connection,
    now: i64,
    limit: usize,
) -> Result<Vec<(i64, WorkspaceId, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, workspace_id, COALESCE(payload, '') FROM triggers
             WHERE (status = 'queued' OR status = 'scheduled') AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
        )?
        .query_map(params![now, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?)
}

/// Marks a trigger failed with the reason its ingest was refused.
fn fail(conn: &Connection, trigger_id: i64, error: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE triggers SET status = 'failed', completed_at = ?2, failed = 1, total_contacts = 1, error = ?3 WHERE id = ?1",
    )?
    .execute(params![trigger_id, crate::store::here().now_ms(), error])?;
    Ok(())
}

/// Marks a trigger completed and drops its payload: the event is in the log now.
fn complete(
    conn: &Connection,
    trigger_id: i64,
    started: i64,
    filtered: impl rusqlite::ToSql,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE triggers SET status = 'completed', started_at = ?2, completed_at = ?3, total_contacts = 1, filtered = ?4, payload = NULL WHERE id = ?1",
    )?
    .execute(params![trigger_id, started, crate::store::here().now_ms(), filtered])?;
    Ok(())
}

fn ingest_trigger(
    conn: &Connection,
    trigger_id: i64,
    ws: WorkspaceId,
    payload: &str,
) -> Result<(), ProcessError> {
    let queued: QueuedEvent =
        serde_json::from_str(payload).map_err(|e| ProcessError::Bad(e.to_string()))?;
    let mut detail = match &queued.source {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if !queued.variables.is_empty() {
        detail.insert("variables".into(), Value::Object(queued.variables.clone()));
    }
    let event = NewEvent {
        name: queued.event_name.clone(),
        properties: queued.event_data.clone(),
        origin: Origin {
            kind: "api",
            detail: Some(Value::Object(detail)),
            trigger_id: Some(trigger_id),
        },
    };
    let started = crate::store::here().now_ms();
    let done = ingest_with_variables(
        conn,
        ws,
        &queued.identity(),
        &queued.patch(),
        &event,
        &queued.variables,
    )?;
    complete(conn, trigger_id, started, done.automations.filtered)?;
    Ok(())
}

/// When the next queued or scheduled trigger comes due, if any.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(due_at) FROM triggers WHERE (status = 'queued' OR status = 'scheduled')",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Why processing a trigger failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("unreadable queued event: {0}")]
    Bad(String),
    #[error(transparent)]
    Contact(#[from] ContactError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ProcessError {
    fn from(e: rusqlite::Error) -> Self {
        ProcessError::Store(StoreError::from(e))
    }
}

/// A trigger as the v1 API reports it, with live counts from its enrollments' messages:
/// `processing` while any of its enrollments is still running.
pub fn trigger_json(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT t.uid, t.event_name, t.status, t.created_at, t.started_at, t.completed_at, t.scheduled_for,
                    t.total_contacts, t.filtered, t.error,
                    (SELECT COUNT(*) FROM arrivals ar JOIN messages m ON m.enrollment_id BETWEEN ar.id * 1024 AND ar.id * 1024 + 1023
                     WHERE ar.trigger_id = t.id AND m.status = 'sent'),
                    (SELECT COUNT(*) FROM arrivals ar JOIN messages m ON m.enrollment_id BETWEEN ar.id * 1024 AND ar.id * 1024 + 1023
                     WHERE ar.trigger_id = t.id AND m.status = 'failed'),
                    (SELECT COUNT(*) FROM arrivals ar JOIN enrollments e ON e.id BETWEEN ar.id * 1024 AND ar.id * 1024 + 1023
                     WHERE ar.trigger_id = t.id AND (e.state = 'active' OR e.state = 'waiting'))
                    + (SELECT COALESCE(SUM(json_array_length(ar.parked)), 0) FROM arrivals ar
                       WHERE ar.trigger_id = t.id AND ar.parked IS NOT NULL),
                    t.failed
             FROM triggers t WHERE t.workspace_id = ?1 AND t.uid = ?2",
        )?
        .query_row(params![ws, uid], |r| {
            let uid: String = r.get(0)?;
            let time = |v: Option<i64>| v.map(iso_time);
            let mut status: String = r.get(2)?;
            let running: i64 = r.get(12)?;
            if status == "completed" && running > 0 {
                status = "processing".into();
            }
            let failed = r.get::<_, i64>(11)? + r.get::<_, i64>(13)?;
            Ok(json!({
                "id": uid,
                "flow_type": "workflow",
                "trigger_type": "workflow",
                "event_name": r.get::<_, String>(1)?,
                "status": status,
                "created_at": iso_time(r.get(3)?),
                "started_at": time(r.get(4)?),
                "completed_at": if running > 0 { None } else { time(r.get(5)?) },
                "scheduled_for": time(r.get(6)?),
                "summary": {
                    "total_contacts": r.get::<_, i64>(7)?,
                    "sent": r.get::<_, i64>(10)?,
                    "failed": failed,
                    "filtered": r.get::<_, i64>(8)?,
                },
                "error": r.get::<_, Option<String>>(9)?,
                "details_endpoint": format!("/api/v1/triggers/{uid}/workflow"),
            }))
        })
        .optional()?)
}

/// The row id of the workspace's trigger `uid`.
pub fn internal_id(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT id FROM triggers WHERE workspace_id = ?1 AND uid = ?2",
        params![ws, uid],
        |r| r.get(0),
    )?)
}

/// Inserts a trigger of `kind` (`event` or `workflow`) for `name`, created and started
/// now in state `processing`; returns its row id and its new uid.
pub fn insert_processing(
    conn: &Connection,
    ws: WorkspaceId,
    kind: &str,
    name: &str,
) -> Result<(i64, String), StoreError> {
    let uid = uuid::Uuid::now_v7().to_string();
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO triggers (uid, workspace_id, kind, event_name, status, created_at, started_at) VALUES (?1, ?2, ?3, ?4, 'processing', ?5, ?5)",
    )?
    .execute(params![uid, ws, kind, name, now])?;
    Ok((conn.last_insert_rowid(), uid))
}

/// Marks a synchronous trigger `completed` now, for its one contact, with the number
/// of automations whose filters turned it away.
pub fn complete_sync(conn: &Connection, id: i64, filtered: u32) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE triggers SET status = 'completed', completed_at = ?2, total_contacts = 1, filtered = ?3 WHERE id = ?1")?
        .execute(params![id, crate::store::here().now_ms(), filtered])?;
    Ok(())
}
