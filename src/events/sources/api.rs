//! `/api/event-sources`: create, list, read, enable / disable, rotate, delete, and the
//! deliveries log. Sources of other workspaces are simply not found.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::spec::check_name;
use super::store::{self, Counts, Delivery, Source};
use super::{EventNameRule, SourceSpec, SpecInput, hook_url, hook_url_hint};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::{object_body, only_fields, opt_string};
use crate::http::state::AppState;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// Routes of the management API.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/event-sources", Access::Api(Need::Read), list)
        .post("/api/event-sources", Access::Api(Need::Manage), create)
        .get("/api/event-sources/{id}", Access::Api(Need::Read), show)
        .patch("/api/event-sources/{id}", Access::Api(Need::Manage), update)
        .delete("/api/event-sources/{id}", Access::Api(Need::Manage), remove)
        .post(
            "/api/event-sources/{id}/rotate",
            Access::Api(Need::Manage),
            rotate,
        )
        .get(
            "/api/event-sources/{id}/deliveries",
            Access::Api(Need::Read),
            deliveries,
        );
}

fn not_found() -> ApiError {
    ApiError::not_found("Event source not found")
}

/// The API form of a source; `url` only when its token was just made.
fn source_json(source: &Source, counts: Counts, url: Option<&str>) -> Value {
    let (event_name, event_name_path) = match &source.event_name {
        EventNameRule::Fixed(n) => (Some(n.as_str()), None),
        EventNameRule::Path(p) => (None, Some(p.as_str())),
    };
    let mut body = json!({
        "id": source.uid,
        "name": source.name,
        "urlHint": hook_url_hint(&source.token_prefix),
        "emailPath": source.email_path,
        "eventName": event_name,
        "eventNamePath": event_name_path,
        "signature": source.scheme.as_str(),
        "enabled": source.enabled,
        "createdAt": iso_time(source.created_at),
        "deliveries": {
            "accepted": counts.accepted,
            "skipped": counts.skipped,
            "rejected": counts.rejected,
        },
    });
    if let Some(url) = url {
        body["url"] = Value::String(url.to_string());
    }
    body
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "receivedAt": iso_time(d.received_at),
        "outcome": d.outcome,
        "reason": d.reason,
        "email": d.email,
        "eventName": d.event_name,
        "eventId": d.event_id,
        "payload": d.payload,
    })
}

fn spec_from(body: &Map<String, Value>) -> Result<SourceSpec, ApiError> {
    only_fields(
        body,
        &[
            "name",
            "emailPath",
            "eventName",
            "eventNamePath",
            "signature",
            "signingSecret",
        ],
        "event source",
    )?;
    let field = |key: &str| opt_string(body, key, "");
    let input = SpecInput {
        name: field("name")?,
        email_path: field("emailPath")?,
        event_name: field("eventName")?,
        event_name_path: field("eventNamePath")?,
        signature: field("signature")?,
        signing_secret: field("signingSecret")?,
    };
    SourceSpec::validate(&input).map_err(ApiError::bad_request)
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let spec = spec_from(&object_body(&req, &body)?)?;
    let ws = caller.workspace_id;
    let (source, token) = state
        .store
        .write(move |conn| store::create(conn, ws, &spec))
        .await?;
    let url = hook_url(&state.config.base_url(), &token);
    Ok(HttpResponse::Created().json(source_json(&source, Counts::default(), Some(&url))))
}

async fn list(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let sources = state.store.read(|conn| store::list(conn, ws))?;
    Ok(HttpResponse::Ok().json(json!({
        "eventSources": sources.iter().map(|(s, c)| source_json(s, *c, None)).collect::<Vec<_>>(),
    })))
}

/// The caller's source with its counts, or 404.
fn load(state: &AppState, caller: &ApiCaller, uid: &str) -> Result<(Source, Counts), ApiError> {
    let ws = caller.workspace_id;
    state
        .store
        .read(|conn| {
            let Some(source) = store::get(conn, ws, uid)? else {
                return Ok::<_, StoreError>(None);
            };
            let counts = store::counts(conn, ws, source.id)?;
            Ok(Some((source, counts)))
        })?
        .ok_or_else(not_found)
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (source, counts) = load(&state, &caller, &id)?;
    Ok(HttpResponse::Ok().json(source_json(&source, counts, None)))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, &["enabled", "name"], "event source update")?;
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(ApiError::bad_request("enabled must be true or false")),
    };
    let name = opt_string(&body, "name", "")?
        .map(|n| check_name(&n).map_err(ApiError::bad_request))
        .transpose()?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let lookup = uid.clone();
    let found = state
        .store
        .write(move |conn| -> Result<Option<Source>, StoreError> {
            let mut source = store::get(conn, ws, &uid)?;
            if let (Some(enabled), Some(_)) = (enabled, &source) {
                source = store::set_enabled(conn, ws, &uid, enabled)?;
            }
            if let (Some(name), Some(_)) = (&name, &source) {
                source = store::rename(conn, ws, &uid, name)?;
            }
            Ok(source)
        })
        .await?;
    found.ok_or_else(not_found)?;
    let (source, counts) = load(&state, &caller, &lookup)?;
    Ok(HttpResponse::Ok().json(source_json(&source, counts, None)))
}

async fn rotate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let lookup = uid.clone();
    let (_, token) = state
        .store
        .write(move |conn| store::rotate(conn, ws, &uid))
        .await?
        .ok_or_else(not_found)?;
    let (source, counts) = load(&state, &caller, &lookup)?;
    let url = hook_url(&state.config.base_url(), &token);
    Ok(HttpResponse::Ok().json(source_json(&source, counts, Some(&url))))
}

async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let removed = state
        .store
        .write(move |conn| store::delete(conn, ws, &uid))
        .await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found())
    }
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn deliveries(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=store::MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}",
            store::MAX_PAGE
        )));
    }
    let before = match query
        .cursor
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not valid"))?,
        ),
    };
    let (source, _) = load(&state, &caller, &id)?;
    let ws = caller.workspace_id;
    let page = state
        .store
        .read_async(move |conn| store::deliveries(conn, ws, source.id, before, limit))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "deliveries": page.deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
        "nextCursor": page.next_cursor.map(|c| c.to_string()),
    })))
}
