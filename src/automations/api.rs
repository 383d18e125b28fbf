//! JSON API for automations: CRUD, pause / resume, enrollments.

use actix_web::{HttpRequest, HttpResponse, web};
use rusqlite::params;
use serde_json::{Value, json};

use super::definition::{self, Definition, Status};
use super::store;
use crate::app::AppState;
use crate::auth::accounts::WorkspaceId;
use crate::auth::extract::ApiCaller;
use crate::events::iso_time;
use crate::http::ApiError;
use crate::http::json::object_body;
use crate::jobs::{self, JobKind};
use crate::store::{StoreError, now_ms};

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/automations", web::get().to(list))
        .route("/api/automations", web::post().to(create))
        .route("/api/automations/{id}", web::get().to(get))
        .route("/api/automations/{id}", web::put().to(update))
        .route("/api/automations/{id}", web::delete().to(delete))
        .route("/api/automations/{id}/pause", web::post().to(pause))
        .route("/api/automations/{id}/resume", web::post().to(resume))
        .route(
            "/api/automations/{id}/enrollments",
            web::get().to(enrollments),
        );
}

/// Parses and validates a definition against the workspace's templates.
pub fn parse_definition(
    conn: &rusqlite::Connection,
    ws: WorkspaceId,
    body: Value,
) -> Result<Definition, ApiError> {
    let def = definition::parse(body)
        .map_err(|e| ApiError::bad_request(e.to_string()).with_details(json!({"path": e.path})))?;
    let exists = |uid: &str| {
        crate::templates::store::get(conn, ws, uid)
            .ok()
            .flatten()
            .is_some()
    };
    definition::validate(&def, &exists)
        .map_err(|e| ApiError::bad_request(e.to_string()).with_details(json!({"path": e.path})))?;
    Ok(def)
}

fn render(conn: &rusqlite::Connection, a: &store::Automation) -> Result<Value, StoreError> {
    Ok(a.to_json(store::counts(conn, a.id)?))
}

async fn list(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let items = state.store.read(|conn| {
        store::list(conn, ws)?
            .iter()
            .map(|a| render(conn, a))
            .collect::<Result<Vec<_>, StoreError>>()
    })?;
    Ok(HttpResponse::Ok().json(json!({ "automations": items })))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_manager()?;
    let body = Value::Object(object_body(&req, &body)?);
    let ws = caller.workspace_id;
    let created = state
        .store
        .write(move |conn| -> Result<Value, ApiError> {
            let def = parse_definition(conn, ws, body)?;
            let a = store::create(conn, ws, &def)?;
            Ok(render(conn, &a)?)
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

async fn get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let found = state
        .store
        .read(|conn| -> Result<Option<Value>, StoreError> {
            store::get(conn, ws, &id)?
                .map(|a| render(conn, &a))
                .transpose()
        })?;
    found
        .map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(|| ApiError::not_found("Automation not found"))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_manager()?;
    let body = Value::Object(object_body(&req, &body)?);
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let updated = state
        .store
        .write(move |conn| -> Result<Value, ApiError> {
            let def = parse_definition(conn, ws, body)?;
            let a = store::update(conn, ws, &uid, &def)?
                .ok_or_else(|| ApiError::not_found("Automation not found"))?;
            requeue_if_active(conn, &a)?;
            Ok(render(conn, &a)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_manager()?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let gone = state
        .store
        .write(move |conn| store::delete(conn, ws, &uid))
        .await?;
    if gone {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("Automation not found"))
    }
}

/// After a resume, queue a run for every enrollment that stalled mid-run while paused
/// (waiting ones are back on the timer queue already).
pub fn requeue_if_active(
    conn: &rusqlite::Connection,
    a: &store::Automation,
) -> Result<(), StoreError> {
    if a.def.status != Status::Active {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached("SELECT id, workspace_id, COALESCE(wake_at, 0) FROM enrollments WHERE automation_id = ?1 AND state = 'active'")?;
    let rows: Vec<(i64, WorkspaceId, i64)> = stmt
        .query_map([a.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (id, ws, wake) in rows {
        jobs::enqueue(
            conn,
            Some(ws),
            &JobKind::RunEnrollment { enrollment_id: id },
            wake.max(now_ms()),
            jobs::max_attempts(),
        )?;
    }
    Ok(())
}

async fn set_status(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: String,
    status: Status,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let updated = state
        .store
        .write(move |conn| -> Result<Value, ApiError> {
            let a = store::set_status(conn, ws, &id, status)?
                .ok_or_else(|| ApiError::not_found("Automation not found"))?;
            requeue_if_active(conn, &a)?;
            Ok(render(conn, &a)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

async fn pause(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_manager()?;
    set_status(state, caller, id.into_inner(), Status::Paused).await
}

async fn resume(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_manager()?;
    set_status(state, caller, id.into_inner(), Status::Active).await
}

/// Enrollments with their step history, as JSON.
pub fn enrollments_json(
    conn: &rusqlite::Connection,
    filter_sql: &str,
    arg: &dyn rusqlite::ToSql,
) -> Result<Vec<Value>, StoreError> {
    let sql = format!(
        "SELECT e.id, 'enr_' || e.id, a.uid, a.name, c.uid, c.email, e.state, e.position, e.error, e.created_at, e.finished_at, COALESCE(e.wake_at, e.held_wake_at)
         FROM enrollments e JOIN automations a ON a.id = e.automation_id JOIN contacts c ON c.id = e.contact_id
         WHERE {filter_sql} ORDER BY e.id DESC LIMIT 200"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<(i64, Value)> = stmt
        .query_map([arg], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                json!({
                    "id": r.get::<_, String>(1)?,
                    "automationId": r.get::<_, String>(2)?,
                    "automationName": r.get::<_, String>(3)?,
                    "contactId": r.get::<_, String>(4)?,
                    "email": r.get::<_, Option<String>>(5)?,
                    "state": r.get::<_, String>(6)?,
                    "position": r.get::<_, String>(7)?,
                    "error": r.get::<_, Option<String>>(8)?,
                    "createdAt": iso_time(r.get(9)?),
                    "finishedAt": r.get::<_, Option<i64>>(10)?.map(iso_time),
                    "wakeAt": r.get::<_, Option<i64>>(11)?.map(iso_time),
                }),
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (id, mut v) in rows {
        let mut steps = conn.prepare_cached("SELECT position, step_type, outcome, detail, created_at FROM enrollment_steps WHERE enrollment_id = ?1 ORDER BY id")?;
        let history: Vec<Value> = steps
            .query_map(params![id], |r| {
                let detail: Option<String> = r.get(3)?;
                Ok(json!({
                    "position": r.get::<_, String>(0)?,
                    "type": r.get::<_, String>(1)?,
                    "outcome": r.get::<_, String>(2)?,
                    "detail": detail.and_then(|d| serde_json::from_str::<Value>(&d).ok()),
                    "at": iso_time(r.get(4)?),
                }))
            })?
            .collect::<Result<_, _>>()?;
        let mut messages = conn.prepare_cached("SELECT uid, position, status, reason, subject FROM messages WHERE enrollment_id = ?1 ORDER BY id")?;
        let sent: Vec<Value> = messages
            .query_map(params![id], |r| {
                Ok(json!({"id": r.get::<_, String>(0)?, "position": r.get::<_, Option<String>>(1)?, "status": r.get::<_, String>(2)?, "reason": r.get::<_, Option<String>>(3)?, "subject": r.get::<_, String>(4)?}))
            })?
            .collect::<Result<_, _>>()?;
        v["steps"] = json!(history);
        v["messages"] = json!(sent);
        out.push(v);
    }
    Ok(out)
}

async fn enrollments(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let items = state
        .store
        .read(|conn| -> Result<Option<Vec<Value>>, StoreError> {
            let Some(a) = store::get(conn, ws, &id)? else {
                return Ok(None);
            };
            Ok(Some(enrollments_json(conn, "e.automation_id = ?1", &a.id)?))
        })?;
    items
        .map(|e| HttpResponse::Ok().json(json!({"enrollments": e})))
        .ok_or_else(|| ApiError::not_found("Automation not found"))
}
