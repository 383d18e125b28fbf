//! The synchronous v1 endpoints: `POST /api/v1/events/trigger` ingests at once and
//! returns the execution result; `POST /api/v1/workflows/trigger` starts one automation
//! for a contact directly. Both are tracked by a trigger like the async endpoint.

use actix_web::{HttpRequest, HttpResponse, web};
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::ingest::{NewEvent, Origin, ingest_with_variables};
use super::triggers;
use super::v1::{QueuedEvent, parse, trigger_json};
use crate::automations::{Scope, engine, store as automations};
use crate::contacts::{ContactPatch, store as contacts};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::object_body;
use crate::http::state::AppState;
use crate::store::StoreError;

/// Per-automation detail of a trigger: its enrollments with step states and messages.
pub fn workflows_of(conn: &Connection, trigger_id: i64) -> Result<Vec<Value>, StoreError> {
    let enrollments = crate::automations::listing::enrollments_json(
        conn,
        crate::automations::listing::Listing::Trigger(trigger_id),
    )?;
    let mut by_automation: Vec<(String, Value)> = Vec::new();
    for e in enrollments {
        let key = e["automationId"].as_str().unwrap_or_default().to_string();
        match by_automation.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) => w["enrollments"].as_array_mut().expect("array").push(e),
            None => by_automation.push((
                key.clone(),
                json!({"workflow_id": key, "name": e["automationName"], "enrollments": [e]}),
            )),
        }
    }
    Ok(by_automation.into_iter().map(|(_, w)| w).collect())
}

fn queued_identity(q: &QueuedEvent) -> crate::contacts::Identity {
    crate::contacts::Identity {
        external_id: q.external_id.clone(),
        email: q.email.clone(),
        phone: q.phone.clone(),
    }
}

/// `POST /api/v1/events/trigger`.
pub async fn trigger_now(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let map = object_body(&req, &body)?;
    if map.get("trigger_at").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad_request(
            "trigger_at is not supported here; use /api/v1/events/send to schedule",
        ));
    }
    let ws = caller.workspace_id;
    let (queued, _) = parse(&state, ws, &map)?;
    let result = state
        .store
        .write(move |conn| -> Result<Value, ApiError> {
            let (trigger_id, uid) =
                triggers::insert_processing(conn, ws, "event", &queued.event_name)?;
            let event = NewEvent {
                name: queued.event_name.clone(),
                properties: queued.event_data.clone(),
                origin: Origin {
                    kind: "api",
                    detail: Some(queued.source.clone()),
                    trigger_id: Some(trigger_id),
                },
            };
            let patch = ContactPatch {
                name: queued.name.clone().map(Some),
                properties: queued.custom_fields.clone(),
                ..ContactPatch::default()
            };
            let done = ingest_with_variables(
                conn,
                ws,
                &queued_identity(&queued),
                &patch,
                &event,
                &queued.variables,
            )?;
            triggers::complete_sync(conn, trigger_id, done.automations.filtered)?;
            let mut body = trigger_json(conn, ws, &uid)?.unwrap_or(Value::Null);
            body["success"] = json!(true);
            body["trigger_id"] = json!(uid);
            body["enrolled"] = json!(done.automations.enrolled);
            body["exited"] = json!(done.automations.exited);
            body["workflows"] = json!(workflows_of(conn, trigger_id)?);
            Ok(body)
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `POST /api/v1/workflows/trigger`: `{workflow_id, user_info, event_data?, variables?}`.
pub async fn start_workflow(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut map = object_body(&req, &body)?;
    let workflow = match map.remove("workflow_id") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(ApiError::bad_request("workflow_id is required")),
    };
    map.insert("event_name".into(), json!("workflow_triggered"));
    let ws = caller.workspace_id;
    let (queued, _) = parse(&state, ws, &map)?;
    let result = state
        .store
        .write(move |conn| -> Result<Value, ApiError> {
            let automation = automations::get(conn, ws, &workflow)?.ok_or_else(|| ApiError::not_found("Workflow not found"))?;
            if automation.def.status != crate::automations::definition::Status::Active {
                return Err(ApiError::bad_request("Workflow is not active"));
            }
            let (trigger_id, uid) = triggers::insert_processing(conn, ws, "workflow", &automation.def.name)?;
            let patch = ContactPatch { name: queued.name.clone().map(Some), properties: queued.custom_fields.clone(), ..ContactPatch::default() };
            let upserted = contacts::upsert(conn, ws, &queued_identity(&queued), &patch)?;
            let origin = Origin { kind: "api", detail: None, trigger_id: Some(trigger_id) };
            crate::events::ingest::record_contact_change(conn, ws, &upserted.contact, upserted.created, &upserted.changes, &origin)?;
            let empty = Map::new();
            let scope = Scope { event: &queued.event_data, variables: &queued.variables, trigger_id: Some(trigger_id), from_automation: false };
            let _ = &empty;
            let enrollment = engine::enroll(conn, ws, &upserted.contact, &automation, None, &scope)?;
            triggers::complete_sync(conn, trigger_id, 0)?;
            Ok(json!({"success": true, "trigger_id": uid, "enrollment_id": format!("enr_{enrollment}"), "message": "Workflow started"}))
        })
        .await?;
    Ok(HttpResponse::Created().json(result))
}
