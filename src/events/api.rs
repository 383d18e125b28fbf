//! Sendra-shaped event API: `POST /api/events/send`, the event log and event patterns.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ingest::{NewEvent, Origin, ingest};
use super::{check_event_name, check_properties, log, patterns};
use crate::contacts::properties::{needs_fields, patch_from_contact_properties};
use crate::contacts::{ContactPatch, Identity, fields, normalize_email};
use crate::http::ApiError;
use crate::http::client_addr::client_ip;
use crate::http::extract::ApiCaller;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::{object_body, only_fields};
use crate::http::state::AppState;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.post("/api/events/send", Access::Api(Need::Send), send)
        .get("/api/events", Access::Api(Need::Read), list)
        .get(
            "/api/event-patterns",
            Access::Api(Need::Read),
            list_patterns,
        )
        .post(
            "/api/event-patterns",
            Access::Api(Need::Manage),
            declare_pattern,
        )
        .delete(
            "/api/event-patterns/{name}",
            Access::Api(Need::Manage),
            remove_pattern,
        );
}

/// A validated `POST /api/events/send` body.
pub struct SendRequest {
    pub email: String,
    pub patch: ContactPatch,
    pub event: NewEvent,
}

/// Parses and validates a Sendra-shaped event; shared with event sources.
pub fn parse_send(
    state: &AppState,
    caller_ws: crate::kinds::WorkspaceId,
    body: &Map<String, Value>,
    origin: Origin,
) -> Result<SendRequest, ApiError> {
    only_fields(
        body,
        &["email", "eventName", "eventProperties", "contactProperties"],
        "request",
    )?;
    let email = match body.get("email") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("email is required")),
        Some(Value::String(s)) => normalize_email(s)?,
        Some(_) => return Err(ApiError::bad_request("email must be a string")),
    };
    let name = match body.get("eventName") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("eventName is required")),
        Some(Value::String(s)) => check_event_name(s)
            .map_err(|m| ApiError::bad_request(m.replace("Event name", "eventName")))?,
        Some(_) => return Err(ApiError::bad_request("eventName must be a string")),
    };
    let limits = &state.config.limits;
    let properties = match body.get("eventProperties") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => check_properties(v, "eventProperties", limits).map_err(ApiError::bad_request)?,
    };
    let patch = match body.get("contactProperties") {
        None | Some(Value::Null) => ContactPatch::default(),
        Some(v) => {
            let props =
                check_properties(v, "contactProperties", limits).map_err(ApiError::bad_request)?;
            let declared = if needs_fields(&props) {
                state.store.read(|conn| fields::list(conn, caller_ws))?
            } else {
                Vec::new()
            };
            patch_from_contact_properties(&props, &declared, limits.max_string_bytes)?
        }
    };
    Ok(SendRequest {
        email,
        patch,
        event: NewEvent {
            name,
            properties,
            origin,
        },
    })
}

/// What to answer: a fresh result or a replayed one.
enum Reply {
    Fresh(Value),
    Replay(u16, String),
}

fn request_origin(state: &AppState, req: &HttpRequest) -> Option<Value> {
    let ip = client_ip(req, &state.trusted_proxies).map(|ip| ip.to_string());
    let agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    Some(json!({"ip": ip, "user_agent": agent}))
}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let idem = idempotency::from_request(&req, "events.send", &body)?;
    let map = object_body(&req, &body)?;
    let origin = Origin {
        kind: "api",
        detail: request_origin(&state, &req),
        trigger_id: None,
    };
    let parsed = parse_send(&state, caller.workspace_id, &map, origin)?;
    let ws = caller.workspace_id;
    let reply = state
        .store
        .write_replayable(move |conn| -> Result<Reply, ApiError> {
            if let Some(key) = &idem
                && let Some(stored) = idempotency::lookup(conn, ws, key)?
            {
                return Ok(Reply::Replay(stored.status, stored.body));
            }
            let identity = Identity {
                email: Some(parsed.email.clone()),
                ..Identity::default()
            };
            let done = ingest(conn, ws, &identity, &parsed.patch, &parsed.event)?;
            let body =
                json!({"enrolled": done.automations.enrolled, "exited": done.automations.exited});
            remember(conn, ws, idem.as_ref(), 200, &body)?;
            Ok(Reply::Fresh(body))
        })
        .await?;
    Ok(match reply {
        Reply::Fresh(body) => HttpResponse::Ok().json(body),
        Reply::Replay(status, body) => idempotency::replayed(status, body),
    })
}

/// Records the response for an idempotency key, if one was sent.
pub fn remember(
    conn: &rusqlite::Connection,
    ws: crate::kinds::WorkspaceId,
    key: Option<&IdempotencyKey>,
    status: u16,
    body: &Value,
) -> Result<(), ApiError> {
    if let Some(key) = key {
        idempotency::remember(conn, ws, key, status, &body.to_string())?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    event_name: Option<String>,
    email: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let filter = log::Filter::parse(
        q.event_name.as_deref(),
        q.email.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        q.cursor.as_deref(),
        q.limit,
    )
    .map_err(ApiError::bad_request)?;
    let ws = caller.workspace_id;
    let page = state
        .store
        .read_async(move |conn| log::query(conn, ws, &filter))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "events": page.events.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "nextCursor": page.next_cursor,
    })))
}

async fn list_patterns(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .store
        .read(|conn| patterns::list(conn, caller.workspace_id))?;
    Ok(HttpResponse::Ok().json(json!({
        "patterns": list.iter().map(|p| json!({"name": p.name, "createdAt": crate::kinds::time::iso_time(p.created_at)})).collect::<Vec<_>>(),
    })))
}

async fn declare_pattern(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, &["name"], "event pattern")?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("name is required"))?
        .to_string();
    patterns::check_name(&name).map_err(ApiError::bad_request)?;
    let ws = caller.workspace_id;
    let created = state
        .store
        .write(move |conn| patterns::declare(conn, ws, &name))
        .await?;
    Ok(HttpResponse::Created()
        .json(json!({"name": created.name, "createdAt": crate::kinds::time::iso_time(created.created_at)})))
}

async fn remove_pattern(
    state: web::Data<AppState>,
    caller: ApiCaller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let name = name.into_inner();
    let removed = state
        .store
        .write(move |conn| patterns::remove(conn, ws, &name))
        .await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("Event pattern not found"))
    }
}
