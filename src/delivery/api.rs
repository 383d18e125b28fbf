//! `GET /api/messages`: every outgoing message of the workspace with its status and
//! reason, newest first, filtered by status and paged by cursor.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::messages::{self, MessageStatus};
use crate::auth::policy::Need;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;

/// Routes of the messages API.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/messages", Access::Api(Need::Read), index);
}

#[derive(Deserialize)]
struct Query {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

const STATUSES: [MessageStatus; 5] = [
    MessageStatus::Queued,
    MessageStatus::Sending,
    MessageStatus::Sent,
    MessageStatus::Failed,
    MessageStatus::Skipped,
];

async fn index(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let status = query.status.clone().filter(|s| !s.is_empty());
    if let Some(s) = &status
        && !STATUSES.iter().any(|k| k.as_str() == s)
    {
        return Err(ApiError::bad_request(
            "status must be one of queued, sending, sent, failed, skipped",
        )
        .with_details(json!({"field": "status"})));
    }
    let before = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::bad_request("cursor is not one this API gave")
                .with_details(json!({"field": "cursor"}))
        })?),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let ws = caller.workspace_id;
    let rows = state
        .store
        .read(|c| messages::list(c, ws, status.as_deref(), before, limit))?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|m| m.id.to_string()))
        .flatten();
    let data: Vec<_> = rows.iter().map(|m| m.to_json()).collect();
    Ok(HttpResponse::Ok().json(json!({"messages": data, "nextCursor": next})))
}
