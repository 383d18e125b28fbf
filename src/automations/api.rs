//! JSON API for automations: CRUD, pause / resume, enrollments.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::definition::{self, Definition, Status};
use super::engine;
use super::listing::{Listing, enrollments_json};
use super::signing;
use super::store;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::object_body;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    // Before `/api/automations/{id}`, which would otherwise take `webhook-secret` as an id.
    r.get(SECRET_PATH, Access::Api(Need::Manage), webhook_secret)
        .post(
            "/api/automations/webhook-secret/rotate",
            Access::Api(Need::Manage),
            rotate_webhook_secret,
        )
        .get("/api/automations", Access::Api(Need::Read), list)
        .post("/api/automations", Access::Api(Need::Manage), create)
        .get("/api/automations/{id}", Access::Api(Need::Read), get)
        .put("/api/automations/{id}", Access::Api(Need::Manage), update)
        .delete("/api/automations/{id}", Access::Api(Need::Manage), delete)
        .post(
            "/api/automations/{id}/pause",
            Access::Api(Need::Manage),
            pause,
        )
        .post(
            "/api/automations/{id}/resume",
            Access::Api(Need::Manage),
            resume,
        )
        .get(
            "/api/automations/{id}/enrollments",
            Access::Api(Need::Read),
            enrollments,
        );
}

/// Where owners, admins and API keys read the webhook signing secret.
pub const SECRET_PATH: &str = "/api/automations/webhook-secret";

/// The secret receivers verify webhook steps with; members may not read it, since
/// anyone holding it can forge calls a receiver would trust.
async fn webhook_secret(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let secret = state
        .store
        .write(move |conn| signing::workspace_secret(conn, ws))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"secret": secret})))
}

/// Replaces the signing secret and answers the new one; calls signed afterwards verify
/// only with it.
async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let secret = state
        .store
        .write(move |conn| signing::rotate_secret(conn, ws))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"secret": secret})))
}

/// Parses and validates a definition against the workspace's templates.
pub fn parse_definition(
    conn: &rusqlite::Connection,
    ws: WorkspaceId,
    body: Value,
) -> Result<Definition, ApiError> {
    let def = definition::parse(body)
        .map_err(|e| ApiError::bad_request(e.to_string()).with_details(json!({"path": e.path})))?;
    let template = |uid: &str| {
        crate::templates::store::get(conn, ws, uid)
            .ok()
            .flatten()
            .map(|t| t.kind)
    };
    let list = |uid: &str| {
        crate::lists::store::get(conn, ws, uid)
            .ok()
            .flatten()
            .is_some()
    };
    let segment = |uid: &str| {
        crate::segments::store::get(conn, ws, uid)
            .ok()
            .flatten()
            .is_some()
    };
    let channel = |uid: &str| {
        crate::channels::store::get(conn, ws, uid)
            .ok()
            .flatten()
            .map(|c| c.kind().as_str().to_string())
    };
    let known = definition::Known {
        template: &template,
        list: &list,
        segment: &segment,
        channel: &channel,
    };
    definition::validate(&def, &known)
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
    let body = Value::Object(object_body(&req, &body)?);
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let updated = state
        .store
        .write(move |conn| -> Result<Value, ApiError> {
            let def = parse_definition(conn, ws, body)?;
            let a = store::update(conn, ws, &uid, &def)?
                .ok_or_else(|| ApiError::not_found("Automation not found"))?;
            engine::requeue_if_active(conn, &a)?;
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
            engine::requeue_if_active(conn, &a)?;
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
    set_status(state, caller, id.into_inner(), Status::Paused).await
}

async fn resume(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(state, caller, id.into_inner(), Status::Active).await
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
            Ok(Some(enrollments_json(conn, Listing::Automation(&a, ws))?))
        })?;
    items
        .map(|e| HttpResponse::Ok().json(json!({"enrollments": e})))
        .ok_or_else(|| ApiError::not_found("Automation not found"))
}
