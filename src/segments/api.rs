//! JSON API for segments: CRUD, paging through a segment's contacts, and previews of an
//! ad-hoc filter. Errors have the API family's shape; filter mistakes name their path.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::check::Cond;
use super::store::{self as segments};
use super::{Filter, Segment, SegmentError, summary};
use crate::auth::policy::Need;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::{object_body, only_fields, opt_string};
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;

/// Routes of this module; the fixed preview path comes before the `{id}` patterns.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/segments", Access::Api(Need::Read), index)
        .post("/api/segments", Access::Api(Need::Manage), create)
        .post_query("/api/segments/preview", Access::Api(Need::Read), preview)
        .get("/api/segments/{id}", Access::Api(Need::Read), show)
        .put("/api/segments/{id}", Access::Api(Need::Manage), update)
        .delete("/api/segments/{id}", Access::Api(Need::Manage), delete)
        .get(
            "/api/segments/{id}/contacts",
            Access::Api(Need::Read),
            contacts,
        );
}

impl From<SegmentError> for ApiError {
    fn from(e: SegmentError) -> Self {
        match e {
            SegmentError::Invalid { path, message } => {
                ApiError::bad_request(format!("{path}: {message}"))
                    .with_details(json!({ "path": path }))
            }
            SegmentError::NotFound => ApiError::not_found("Segment not found"),
            SegmentError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            SegmentError::Broken(inner) => {
                let path = inner.path.clone();
                ApiError::new(
                    StatusCode::CONFLICT,
                    SegmentError::Broken(inner).to_string(),
                )
                .with_details(json!({ "path": path }))
            }
            SegmentError::Store(e) => e.into(),
        }
    }
}

/// Most contacts one page returns.
const MAX_LIMIT: u32 = 1000;

/// A segment as the API shows it: with its filter in words and, when asked, how many
/// contacts it selects now (`count` is null and `problem` says why when the saved filter
/// no longer fits the workspace).
fn shown(
    conn: &Connection,
    ws: WorkspaceId,
    segment: &Segment,
    with_count: bool,
) -> Result<Value, SegmentError> {
    let catalog = segments::catalog(conn, ws)?;
    let mut out = segment.to_json();
    out["summary"] = json!(summary::describe(&segment.filter, &catalog));
    if with_count {
        match segments::resolve(conn, ws, &segment.filter) {
            Ok(cond) => out["count"] = json!(segments::count(conn, ws, &cond)?),
            Err(SegmentError::Broken(problem)) => {
                out["count"] = Value::Null;
                out["problem"] = json!(problem.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct IndexQuery {
    #[serde(default, rename = "withCounts")]
    with_counts: bool,
}

async fn index(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<IndexQuery>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let with_counts = query.with_counts;
    let found = state
        .store
        .read_async(move |conn| -> Result<Vec<Value>, SegmentError> {
            segments::all(conn, ws)?
                .iter()
                .map(|s| shown(conn, ws, s, with_counts))
                .collect()
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "segments": found })))
}

/// The `filter` of a body, parsed for shape (it is checked against the workspace in the
/// store call).
fn filter_of(body: &Map<String, Value>) -> Result<Option<Filter>, ApiError> {
    match body.get("filter") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(
            super::filter::parse(v, "filter").map_err(SegmentError::from)?,
        )),
    }
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, &["name", "filter"], "segment")?;
    let name = opt_string(&body, "name", "")?
        .ok_or_else(|| ApiError::from(SegmentError::invalid("name", "is required")))?;
    let filter = filter_of(&body)?
        .ok_or_else(|| ApiError::from(SegmentError::invalid("filter", "is required")))?;
    let ws = caller.workspace_id;
    let created = state
        .store
        .write(move |conn| {
            let segment = segments::create(conn, ws, &name, &filter)?;
            shown(conn, ws, &segment, false)
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let found = state
        .store
        .read_async(move |conn| {
            let segment = segments::get(conn, ws, &uid)?.ok_or(SegmentError::NotFound)?;
            shown(conn, ws, &segment, true)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, &["name", "filter"], "segment")?;
    let name = opt_string(&body, "name", "")?;
    let filter = filter_of(&body)?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let updated = state
        .store
        .write(move |conn| {
            let segment = segments::update(conn, ws, &uid, name.as_deref(), filter.as_ref())?;
            shown(conn, ws, &segment, false)
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
    let deleted = state
        .store
        .write(move |conn| delete_unused(conn, ws, &uid))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": deleted.uid})))
}

/// Deletes a segment no automation reads; one that an automation's filter or branch
/// names is a conflict that names the automations, so none silently loses a condition.
pub fn delete_unused(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Segment, SegmentError> {
    let users: Vec<String> = crate::automations::conditions::segment_users(conn, ws, uid)?
        .iter()
        .map(|name| format!("'{name}'"))
        .collect();
    if !users.is_empty() && segments::get(conn, ws, uid)?.is_some() {
        return Err(SegmentError::Conflict(format!(
            "The segment is used by the automation{} {}; change {} first",
            if users.len() == 1 { "" } else { "s" },
            users.join(", "),
            if users.len() == 1 { "it" } else { "them" }
        )));
    }
    segments::delete(conn, ws, uid)
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<i64>,
    limit: Option<u32>,
}

fn limit_of(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            SegmentError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")).into(),
        );
    }
    Ok(limit)
}

/// One keyset page of a filter's contacts and the cursor of the next (null at the end).
fn member_page(
    conn: &Connection,
    ws: WorkspaceId,
    cond: &Cond,
    after: i64,
    limit: u32,
) -> Result<Value, SegmentError> {
    let page = segments::members(conn, ws, cond, after, limit)?;
    let next = (page.len() == limit as usize)
        .then(|| page.last().map(|c| c.id))
        .flatten();
    Ok(json!({
        "contacts": page.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "nextCursor": next,
    }))
}

async fn contacts(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit_of(query.limit)?;
    let after = query.cursor.unwrap_or(0);
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let page = state
        .store
        .read_async(move |conn| {
            let segment = segments::get(conn, ws, &uid)?.ok_or(SegmentError::NotFound)?;
            let cond = segments::resolve(conn, ws, &segment.filter)?;
            member_page(conn, ws, &cond, after, limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /api/segments/preview {filter, limit?}`: what a filter would select, without
/// saving it: the count, the filter in words and the first page.
async fn preview(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(&req, &body)?;
    only_fields(&body, &["filter", "limit"], "preview")?;
    let limit = match body.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n <= u64::from(MAX_LIMIT))
                .map(|n| n as u32)
                .unwrap_or(0),
        ),
    };
    let limit = limit_of(limit.or(Some(50)))?;
    let value = body
        .get("filter")
        .cloned()
        .ok_or_else(|| ApiError::from(SegmentError::invalid("filter", "is required")))?;
    let ws = caller.workspace_id;
    let answer = state
        .store
        .read_async(move |conn| {
            let (filter, cond) = segments::parse_filter(conn, ws, &value)?;
            let catalog = segments::catalog(conn, ws)?;
            let mut out = member_page(conn, ws, &cond, 0, limit)?;
            out["count"] = json!(segments::count(conn, ws, &cond)?);
            out["summary"] = json!(summary::describe(&filter, &catalog));
            out["filter"] = filter.to_json();
            Ok::<_, SegmentError>(out)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
