//! Sendmator-shaped v1 API: `POST /api/v1/events/send` queues the event durably and
//! answers 201 at once; the trigger row is the durable queue entry, ingested by a background
//! loop now or at `trigger_at` in one transaction that also completes it. Triggers track it.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::triggers;
use super::{check_event_name, check_properties};
use crate::contacts::properties::custom_values;
use crate::contacts::{fields, normalize_email, normalize_phone};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::idempotency;
use crate::http::json::{object_body, only_fields, opt_string};
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::kinds::time::{iso_time, parse_time};
use crate::store::StoreError;

pub use super::triggers::{QueuedEvent, trigger_json};

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
    let event_name = parse_event_name(body)?;
    let trigger_at = parse_trigger_at(state, body)?;
    let user = parse_user_info(state, ws, body)?;
    let source = parse_source(state, body)?;
    let queued = QueuedEvent {
        event_name,
        external_id: user.external_id,
        email: user.email,
        phone: user.phone,
        name: user.name,
        custom_fields: user.custom_fields,
        event_data: object_field(body, "event_data", state)?,
        variables: object_field(body, "variables", state)?,
        source: Value::Object(source),
    };
    Ok((queued, trigger_at))
}

/// `event_name`: required, a string, a valid event name.
fn parse_event_name(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("event_name") {
        Some(Value::String(s)) => check_event_name(s).map_err(ApiError::bad_request),
        None | Some(Value::Null) => Err(ApiError::bad_request("Event name is required")),
        Some(_) => Err(ApiError::bad_request("event_name must be a string")),
    }
}

/// `trigger_at`: optional, an ISO 8601 date-time in the future.
fn parse_trigger_at(state: &AppState, body: &Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match body.get("trigger_at") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let at = parse_time(s)
                .filter(|_| s.contains('T'))
                .ok_or_else(|| ApiError::bad_request("Invalid trigger_at format"))?;
            if at <= state.clock().now_ms() {
                return Err(ApiError::bad_request("trigger_at must be a future date"));
            }
            Ok(Some(at))
        }
        Some(_) => Err(ApiError::bad_request("Invalid trigger_at format")),
    }
}

/// The contact part of a v1 body, normalized.
struct UserInfo {
    external_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    custom_fields: Map<String, Value>,
}

/// `user_info`: at least one identity (external id, email or phone), an optional name and
/// custom fields checked against the workspace's declared fields.
fn parse_user_info(
    state: &AppState,
    ws: WorkspaceId,
    body: &Map<String, Value>,
) -> Result<UserInfo, ApiError> {
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
    Ok(UserInfo {
        external_id,
        email,
        phone,
        name,
        custom_fields: parse_custom_fields(state, ws, &user_info)?,
    })
}

/// `user_info.custom_fields`: an object of values for the workspace's declared fields.
fn parse_custom_fields(
    state: &AppState,
    ws: WorkspaceId,
    user_info: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    match user_info.get("custom_fields") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => {
            let declared = state.store.read(|conn| fields::list(conn, ws))?;
            Ok(custom_values(
                m,
                &declared,
                state.config.limits.max_string_bytes,
                "user_info.custom_fields",
            )?)
        }
        Some(_) => Err(ApiError::bad_request(
            "user_info.custom_fields must be an object",
        )),
    }
}

/// `source`: optional strings `type`, `ip` and `user_agent`.
fn parse_source(
    state: &AppState,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let source = object_field(body, "source", state)?;
    only_fields(&source, &["type", "ip", "user_agent"], "source")?;
    for key in ["type", "ip", "user_agent"] {
        opt_string(&source, key, "source.")?;
    }
    Ok(source)
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
            // The trigger row is the queue entry; its id is the job id the seed promises.
            let (uid, job_id) = triggers::insert(conn, ws, &event_name, &payload, trigger_at)?;
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
        Reply::Replay(status, body) => crate::http::idempotency::replayed(status, body),
    })
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
            let internal = triggers::internal_id(conn, ws, &id)?;
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
