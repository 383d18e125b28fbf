//! Sendmator-shaped v1 API: `POST /api/v1/events/send` queues the event durably and
//! answers 201 at once; the trigger row is the durable queue entry, ingested by a background
//! loop now or at `trigger_at` in one transaction that also completes it. Triggers track it.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ingest::{NewEvent, Origin, ingest_with_variables};
use super::{check_event_name, check_properties};
use crate::contacts::properties::custom_values;
use crate::contacts::{
    ContactError, ContactPatch, Identity, fields, normalize_email, normalize_phone,
};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::idempotency;
use crate::http::json::{object_body, only_fields, opt_string};
use crate::http::state::AppState;
use crate::jobs;
use crate::kinds::WorkspaceId;
use crate::kinds::time::{iso_time, parse_time};
use crate::store::StoreError;
use crate::store::batch::{ItemError, run_isolated};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.post("/api/v1/events/send", Access::Api(Need::Send), send)
        .post(
            "/api/v1/events/trigger",
            Access::Api(Need::Send),
            super::v1_sync::trigger_now,
        )
        .post(
            "/api/v1/workflows/trigger",
            Access::Api(Need::Manage),
            super::v1_sync::start_workflow,
        )
        .get("/api/v1/triggers/{id}", Access::Api(Need::Read), trigger)
        .get(
            "/api/v1/triggers/{id}/workflow",
            Access::Api(Need::Read),
            trigger_workflows,
        );
}

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

fn object_field(
    body: &Map<String, Value>,
    key: &str,
    state: &AppState,
) -> Result<Map<String, Value>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(v) => check_properties(v, key, &state.config.limits).map_err(ApiError::bad_request),
    }
}

/// Validates a v1 body: the seed's messages for name and `trigger_at`.
pub fn parse(
    state: &AppState,
    ws: WorkspaceId,
    body: &Map<String, Value>,
) -> Result<(QueuedEvent, Option<i64>), ApiError> {
    only_fields(
        body,
        &[
            "event_name",
            "user_info",
            "source",
            "event_data",
            "variables",
            "trigger_at",
        ],
        "request",
    )?;
    let event_name = match body.get("event_name") {
        Some(Value::String(s)) => check_event_name(s).map_err(ApiError::bad_request)?,
        None | Some(Value::Null) => return Err(ApiError::bad_request("Event name is required")),
        Some(_) => return Err(ApiError::bad_request("event_name must be a string")),
    };
    let trigger_at = match body.get("trigger_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let at = parse_time(s)
                .filter(|_| s.contains('T'))
                .ok_or_else(|| ApiError::bad_request("Invalid trigger_at format"))?;
            if at <= state.clock().now_ms() {
                return Err(ApiError::bad_request("trigger_at must be a future date"));
            }
            Some(at)
        }
        Some(_) => return Err(ApiError::bad_request("Invalid trigger_at format")),
    };
    let user_info = object_field(body, "user_info", state)?;
    only_fields(
        &user_info,
        &[
            "contact_external_id",
            "email",
            "phone",
            "name",
            "custom_fields",
        ],
        "user_info",
    )?;
    let email = opt_string(&user_info, "email", "user_info.")?
        .map(|e| normalize_email(&e))
        .transpose()?;
    let phone = opt_string(&user_info, "phone", "user_info.")?
        .map(|p| normalize_phone(&p))
        .transpose()?;
    let external_id = opt_string(&user_info, "contact_external_id", "user_info.")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if external_id.as_ref().is_some_and(|e| e.len() > 255) {
        return Err(ApiError::bad_request(
            "user_info.contact_external_id must be at most 255 characters",
        ));
    }
    if email.is_none() && phone.is_none() && external_id.is_none() {
        return Err(ApiError::bad_request(
            "user_info must include contact_external_id, email or phone",
        ));
    }
    let name = opt_string(&user_info, "name", "user_info.")?
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let custom = match user_info.get("custom_fields") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => {
            let declared = state.store.read(|conn| fields::list(conn, ws))?;
            custom_values(
                m,
                &declared,
                state.config.limits.max_string_bytes,
                "user_info.custom_fields",
            )?
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "user_info.custom_fields must be an object",
            ));
        }
    };
    let source = object_field(body, "source", state)?;
    only_fields(&source, &["type", "ip", "user_agent"], "source")?;
    for key in ["type", "ip", "user_agent"] {
        opt_string(&source, key, "source.")?;
    }
    let queued = QueuedEvent {
        event_name,
        external_id,
        email,
        phone,
        name,
        custom_fields: custom,
        event_data: object_field(body, "event_data", state)?,
        variables: object_field(body, "variables", state)?,
        source: Value::Object(source),
    };
    Ok((queued, trigger_at))
}

enum Reply {
    Fresh(Value),
    Replay(u16, String),
}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let idem = idempotency::from_request(&req, "v1.events.send", &body)?;
    let map = object_body(&req, &body)?;
    let ws = caller.workspace_id;
    let (queued, trigger_at) = parse(&state, ws, &map)?;
    // Serialised here, on the HTTP worker, to keep the single writer's work short.
    let payload = serde_json::to_string(&queued).expect("queued events serialize");
    let event_name = queued.event_name;
    let reply = state
        .store
        .write_replayable(move |conn| -> Result<Reply, ApiError> {
            if let Some(key) = &idem
                && let Some(stored) = idempotency::lookup(conn, ws, key)?
            {
                return Ok(Reply::Replay(stored.status, stored.body));
            }
            let now = crate::store::here().now_ms();
            let uid = uuid::Uuid::now_v7().to_string();
            let status = if trigger_at.is_some() { "scheduled" } else { "queued" };
            conn.prepare_cached(
                "INSERT INTO triggers (uid, workspace_id, event_name, status, payload, scheduled_for, due_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(StoreError::from)?
            .execute(params![uid, ws, event_name, status, payload, trigger_at, trigger_at.unwrap_or(now), now])
            .map_err(StoreError::from)?;
            // The trigger row is the queue entry; its id is the job id the seed promises.
            let job_id = conn.last_insert_rowid();
            jobs::scheduler::note(jobs::scheduler::Queue::Triggers);
            let mut body = json!({
                "success": true,
                "trigger_id": uid,
                "job_id": job_id.to_string(),
                "message": "Event queued successfully",
            });
            if let Some(at) = trigger_at {
                body["message"] = json!(format!("Event scheduled for {}", iso_time(at)));
                body["scheduled_for"] = json!(iso_time(at));
            }
            super::api::remember(conn, ws, idem.as_ref(), 201, &body)?;
            Ok(Reply::Fresh(body))
        })
        .await?;
    Ok(match reply {
        Reply::Fresh(body) => {
            state.wakeup.wake();
            HttpResponse::Created().json(body)
        }
        Reply::Replay(status, body) => super::api::replayed(status, body),
    })
}

/// Ingests every due queued or scheduled trigger (up to `limit`), each exactly once: its
/// ingest and its move to `completed` commit together in this transaction. A trigger whose
/// ingest is refused (e.g. a conflicting contact) is marked failed with the reason.
/// Returns how many were handled.
pub fn process_due(conn: &Connection, now: i64, limit: usize) -> Result<usize, StoreError> {
    let due: Vec<(i64, WorkspaceId, String)> = conn
        .prepare_cached(
            "SELECT id, workspace_id, COALESCE(payload, '') FROM triggers
             WHERE (status = 'queued' OR status = 'scheduled') AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
        )?
        .query_map(params![now, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    run_isolated(
        conn,
        &due,
        |conn, (trigger_id, ws, payload)| {
            ingest_trigger(conn, *trigger_id, *ws, payload).map_err(|e| match e {
                ProcessError::Store(e) => ItemError::Fatal(e),
                other => ItemError::Failed(other),
            })
        },
        |conn, (trigger_id, _, _), e| {
            conn.prepare_cached(
                "UPDATE triggers SET status = 'failed', completed_at = ?2, failed = 1, total_contacts = 1, error = ?3 WHERE id = ?1",
            )?
            .execute(params![trigger_id, crate::store::here().now_ms(), e.to_string()])?;
            Ok(())
        },
    )?;
    Ok(due.len())
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
    conn.prepare_cached(
        "UPDATE triggers SET status = 'completed', started_at = ?2, completed_at = ?3, total_contacts = 1, filtered = ?4, payload = NULL WHERE id = ?1",
    )?
    .execute(params![trigger_id, started, crate::store::here().now_ms(), done.automations.filtered])?;
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

async fn trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .store
        .read(|conn| trigger_json(conn, caller.workspace_id, &id))?;
    found
        .map(|t| HttpResponse::Ok().json(t))
        .ok_or_else(|| ApiError::not_found("Trigger not found"))
}

async fn trigger_workflows(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let found = state
        .store
        .read(|conn| -> Result<Option<Value>, StoreError> {
            let Some(trigger) = trigger_json(conn, ws, &id)? else {
                return Ok(None);
            };
            let internal: i64 = conn.query_row(
                "SELECT id FROM triggers WHERE workspace_id = ?1 AND uid = ?2",
                params![ws, id.as_str()],
                |r| r.get(0),
            )?;
            Ok(Some(json!({
                "trigger_id": trigger["id"],
                "status": trigger["status"],
                "summary": trigger["summary"],
                "workflows": super::v1_sync::workflows_of(conn, internal)?,
            })))
        })?;
    found
        .map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(|| ApiError::not_found("Trigger not found"))
}
