//! JSON API for templates, with preview and "send test".

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::sample_contact;
use super::store::{self, Deletion, TemplateInput};
use crate::delivery::test_send::{self, TestSendError};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::{object_body, only_fields, opt_string};
use crate::http::state::AppState;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/templates", Access::Api(Need::Read), list)
        .post("/api/templates", Access::Api(Need::Manage), create)
        .get("/api/templates/{id}", Access::Api(Need::Read), get)
        .put("/api/templates/{id}", Access::Api(Need::Manage), update)
        .delete("/api/templates/{id}", Access::Api(Need::Manage), delete)
        .post_query(
            "/api/templates/{id}/preview",
            Access::Api(Need::Read),
            preview,
        )
        .post(
            "/api/templates/{id}/test",
            Access::Api(Need::Manage),
            send_test,
        );
}

/// A template from a body; `kind` defaults to `stored_kind` (a new template: email), and
/// a template's kind never changes.
fn input(body: &Map<String, Value>, stored_kind: Option<&str>) -> Result<TemplateInput, ApiError> {
    only_fields(
        body,
        &["name", "kind", "subject", "html", "text"],
        "template",
    )?;
    let required = |key: &str| {
        opt_string(body, key, "")
            .and_then(|v| v.ok_or_else(|| ApiError::bad_request(format!("{key} is required"))))
    };
    let kind =
        opt_string(body, "kind", "")?.unwrap_or_else(|| stored_kind.unwrap_or("email").to_string());
    if stored_kind.is_some_and(|k| k != kind) {
        return Err(
            ApiError::bad_request("kind cannot change; make a new template")
                .with_details(json!({"field": "kind"})),
        );
    }
    let email = kind == "email";
    let part = |key: &str| {
        if email {
            required(key)
        } else {
            Ok(opt_string(body, key, "")?.unwrap_or_default())
        }
    };
    let input = TemplateInput {
        name: required("name")?,
        subject: part("subject")?,
        html: part("html")?,
        text: opt_string(body, "text", "")?,
        kind,
    };
    store::validate(&input).map_err(ApiError::bad_request)?;
    Ok(input)
}

async fn list(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let items = state
        .store
        .read(|conn| store::list(conn, caller.workspace_id))?;
    Ok(HttpResponse::Ok()
        .json(json!({"templates": items.iter().map(|t| t.to_json()).collect::<Vec<_>>()})))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = input(&object_body(&req, &body)?, None)?;
    let ws = caller.workspace_id;
    let t = state
        .store
        .write(move |conn| store::create(conn, ws, &input))
        .await?;
    Ok(HttpResponse::Created().json(t.to_json()))
}

async fn get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let t = state
        .store
        .read(|conn| store::get(conn, caller.workspace_id, &id))?;
    t.map(|t| HttpResponse::Ok().json(t.to_json()))
        .ok_or_else(|| ApiError::not_found("Template not found"))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let stored = state.store.read(|c| store::get(c, ws, &uid))?;
    let stored = stored.ok_or_else(|| ApiError::not_found("Template not found"))?;
    let input = input(&object_body(&req, &body)?, Some(&stored.kind))?;
    let t = state
        .store
        .write(move |conn| store::update(conn, ws, &uid, &input))
        .await?;
    t.map(|t| HttpResponse::Ok().json(t.to_json()))
        .ok_or_else(|| ApiError::not_found("Template not found"))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let outcome = state
        .store
        .write(move |conn| store::delete_unused(conn, ws, &uid))
        .await?;
    match outcome {
        Deletion::Deleted => {}
        Deletion::NotFound => return Err(ApiError::not_found("Template not found")),
        Deletion::InUse(users) => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::CONFLICT,
                format!("Template is used by: {}", users.join(", ")),
            ));
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn preview(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = if body.is_empty() {
        Map::new()
    } else {
        object_body(&req, &body)?
    };
    let t = state
        .store
        .read(|conn| store::get(conn, caller.workspace_id, &id))?
        .ok_or_else(|| ApiError::not_found("Template not found"))?;
    let object = |k: &str| {
        body.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let mut contact = sample_contact();
    if let Some(c) = body.get("contact").and_then(Value::as_object) {
        contact.email = c
            .get("email")
            .and_then(Value::as_str)
            .map(String::from)
            .or(contact.email);
        contact.first_name = c
            .get("firstName")
            .and_then(Value::as_str)
            .map(String::from)
            .or(contact.first_name);
        contact.last_name = c
            .get("lastName")
            .and_then(Value::as_str)
            .map(String::from)
            .or(contact.last_name);
    }
    let context = super::context(
        &contact,
        &object("event"),
        &object("variables"),
        &super::OptOutUrls::preview(&state.config.base_url()),
    );
    // On the blocking pool: a heavy template never holds an HTTP worker.
    let rendered = web::block(move || super::render_email(&t, &context))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::bad_request)?;
    Ok(HttpResponse::Ok()
        .json(json!({"subject": rendered.subject, "html": rendered.html, "text": rendered.text})))
}

async fn send_test(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    let to =
        crate::contacts::normalize_email(body.get("to").and_then(Value::as_str).unwrap_or(""))?;
    let queued = test_send::queue(
        &state.store,
        caller.workspace_id,
        &id,
        to,
        state.config.base_url(),
    )
    .await;
    match queued {
        Ok(message) => {
            Ok(HttpResponse::Accepted().json(json!({"messageId": message, "status": "queued"})))
        }
        Err(TestSendError::NotFound) => Err(ApiError::not_found("Template not found")),
        Err(e @ TestSendError::Render(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(TestSendError::Store(e)) => Err(e.into()),
    }
}
