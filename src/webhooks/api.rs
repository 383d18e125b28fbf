//! The webhooks API, Sendkit-shaped (seed 004): `/v1/webhooks` and `/api/v1/webhooks`
//! answer `{success: true, data}`, and every error is `{success: false, error}`. Also the
//! event catalogue at `/api/webhooks/events`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::deliveries::{self, DeliveryFilter};
use super::{Endpoint, EndpointStatus, WebhookError, catalogue, input, outbox, signing, store};
use crate::auth::policy::Need;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::object_body;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::kinds::time::parse_time;

/// Routes of this module, under both prefixes the seed family uses.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/webhooks/events", Access::Api(Need::Read), events);
    for base in ["/v1/webhooks", "/api/v1/webhooks"] {
        r.post(base, Access::Api(Need::Manage), create)
            .get(base, Access::Api(Need::Read), index)
            .get(&format!("{base}/{{id}}"), Access::Api(Need::Read), show)
            .patch(&format!("{base}/{{id}}"), Access::Api(Need::Manage), update)
            .put(&format!("{base}/{{id}}"), Access::Api(Need::Manage), update)
            .delete(&format!("{base}/{{id}}"), Access::Api(Need::Manage), delete)
            .get(
                &format!("{base}/{{id}}/secret"),
                Access::Api(Need::Manage),
                secret,
            )
            .post(
                &format!("{base}/{{id}}/rotate-secret"),
                Access::Api(Need::Manage),
                rotate,
            )
            .post(
                &format!("{base}/{{id}}/enable"),
                Access::Api(Need::Manage),
                enable,
            )
            .post(
                &format!("{base}/{{id}}/disable"),
                Access::Api(Need::Manage),
                disable,
            )
            .post(
                &format!("{base}/{{id}}/test"),
                Access::Api(Need::Manage),
                test,
            )
            .get(
                &format!("{base}/{{id}}/deliveries"),
                Access::Api(Need::Read),
                list_deliveries,
            )
            .get(
                &format!("{base}/{{id}}/deliveries/{{delivery}}"),
                Access::Api(Need::Read),
                show_delivery,
            )
            .post(
                &format!("{base}/{{id}}/deliveries/{{delivery}}/redeliver"),
                Access::Api(Need::Manage),
                redeliver,
            )
            .post(
                &format!("{base}/{{id}}/redeliver-failed"),
                Access::Api(Need::Manage),
                redeliver_failed,
            );
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid { field, message } => {
                ApiError::bad_request(format!("{field} {message}"))
                    .with_details(json!({ "field": field }))
            }
            WebhookError::NotFound => ApiError::not_found("Webhook not found"),
            WebhookError::DeliveryNotFound => ApiError::not_found("Delivery not found"),
            WebhookError::Store(e) => e.into(),
        }
        .enveloped()
    }
}

fn ok(status: StatusCode, data: Value) -> HttpResponse {
    HttpResponse::build(status).json(json!({"success": true, "data": data}))
}

fn body_of(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    object_body(req, body).map_err(ApiError::enveloped)
}

fn creator(caller: &ApiCaller) -> String {
    match (caller.user_id, caller.key_id) {
        (Some(user), _) => format!("user_{user}"),
        (None, Some(key)) => format!("key_{key}"),
        (None, None) => "unknown".into(),
    }
}

/// The endpoint with its signing secret in the `whsec_` form libraries take.
fn with_secret(e: &Endpoint) -> Value {
    let mut v = e.to_json(true);
    v["signingSecret"] = json!(signing::whsec(&e.secret));
    v
}

fn find(state: &AppState, caller: &ApiCaller, id: &str) -> Result<Endpoint, ApiError> {
    let ws = caller.workspace_id;
    Ok(state
        .store
        .read(|c| store::get(c, ws, id))?
        .ok_or(WebhookError::NotFound)?)
}

async fn events() -> HttpResponse {
    HttpResponse::Ok().json(catalogue::to_json())
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let map = body_of(&req, &body)?;
    let input = input::parse(&map, None, state.config.webhooks.allow_private_targets)?;
    let ws = caller.workspace_id;
    let by = creator(&caller);
    let created = state
        .store
        .write(move |c| store::create(c, ws, &input, &by))
        .await?;
    Ok(ok(StatusCode::CREATED, with_secret(&created)))
}

async fn index(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let all = state.store.read(|c| store::all(c, ws))?;
    let data: Vec<Value> = all.iter().map(|e| e.to_json(false)).collect();
    Ok(ok(StatusCode::OK, json!(data)))
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = find(&state, &caller, &id)?;
    let counts = state
        .store
        .read(|c| deliveries::counts(c, endpoint.id).map_err(WebhookError::from))?;
    let mut data = endpoint.to_json(false);
    data["health"]["deliveries"] = counts;
    Ok(ok(StatusCode::OK, data))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let map = body_of(&req, &body)?;
    let current = find(&state, &caller, &id)?;
    let input = input::parse(
        &map,
        Some(&current),
        state.config.webhooks.allow_private_targets,
    )?;
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let updated = state
        .store
        .write(move |c| store::update(c, ws, &uid, &input))
        .await?;
    Ok(ok(StatusCode::OK, updated.to_json(false)))
}

async fn set_status(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: String,
    status: EndpointStatus,
) -> Result<HttpResponse, ApiError> {
    let current = find(&state, &caller, &id)?;
    let input = input::with_status(&current, status);
    let ws = caller.workspace_id;
    let updated = state
        .store
        .write(move |c| store::update(c, ws, &id, &input))
        .await?;
    Ok(ok(StatusCode::OK, updated.to_json(false)))
}

async fn enable(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(state, caller, id.into_inner(), EndpointStatus::Active).await
}

async fn disable(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(state, caller, id.into_inner(), EndpointStatus::Disabled).await
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let shown = uid.clone();
    state
        .store
        .write(move |c| store::delete(c, ws, &uid))
        .await?;
    Ok(ok(StatusCode::OK, json!({"_id": shown, "deleted": true})))
}

async fn secret(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = find(&state, &caller, &id)?;
    Ok(ok(
        StatusCode::OK,
        json!({"secret": e.secret, "signingSecret": signing::whsec(&e.secret)}),
    ))
}

async fn rotate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let fresh = signing::new_secret();
    let rotated = state
        .store
        .write(move |c| store::rotate(c, ws, &uid, &fresh))
        .await?;
    Ok(ok(StatusCode::OK, with_secret(&rotated)))
}

async fn test(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = find(&state, &caller, &id)?;
    let ws = caller.workspace_id;
    let (eid, euid) = (e.id, e.uid.clone());
    state
        .store
        .write(move |c| outbox::emit_test(c, ws, eid, &euid).map_err(WebhookError::from))
        .await?;
    Ok(ok(
        StatusCode::ACCEPTED,
        json!({"queued": true, "event": "webhook.test"}),
    ))
}

#[derive(Deserialize)]
struct DeliveryQuery {
    status: Option<String>,
    event: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn time_param(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => Ok(Some(parse_time(v).ok_or_else(|| {
            WebhookError::invalid(field, "must be an ISO 8601 time")
        })?)),
    }
}

async fn list_deliveries(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let e = find(&state, &caller, &id)?;
    let q = query.into_inner();
    if let Some(s) = &q.status
        && !["pending", "succeeded", "failed"].contains(&s.as_str())
    {
        return Err(WebhookError::invalid("status", "must be pending, succeeded or failed").into());
    }
    let before_id = match &q.cursor {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| WebhookError::invalid("cursor", "is not a cursor from this list"))?,
        ),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(WebhookError::invalid("limit", "must be from 1 to 200").into());
    }
    let filter = DeliveryFilter {
        status: q.status,
        event: q.event,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        before_id,
        limit,
    };
    let rows = state
        .store
        .read(|c| deliveries::list(c, e.id, &filter).map_err(WebhookError::from))?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|(id, _)| id.to_string()))
        .flatten();
    let data: Vec<Value> = rows.into_iter().map(|(_, v)| v).collect();
    Ok(HttpResponse::Ok().json(json!({"success": true, "data": data, "nextCursor": next})))
}

async fn show_delivery(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let e = find(&state, &caller, &id)?;
    let found = state.store.read(|c| deliveries::get(c, e.id, &delivery))?;
    let (_, data) = found.ok_or(WebhookError::DeliveryNotFound)?;
    Ok(ok(StatusCode::OK, data))
}

async fn redeliver(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let e = find(&state, &caller, &id)?;
    let eid = e.id;
    let queued = state
        .store
        .write(move |c| deliveries::redeliver(c, eid, &delivery).map_err(WebhookError::from))
        .await?;
    if !queued {
        return Err(WebhookError::DeliveryNotFound.into());
    }
    Ok(ok(StatusCode::ACCEPTED, json!({"queued": 1})))
}

async fn redeliver_failed(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let map = body_of(&req, &body)?;
    if let Some(unknown) = map.keys().find(|k| k.as_str() != "since") {
        return Err(WebhookError::invalid(
            unknown.as_str(),
            "is not a field here (allowed: since)",
        )
        .into());
    }
    let since = match map.get("since").and_then(Value::as_str) {
        Some(s) => time_param("since", Some(s))?.unwrap_or_default(),
        None => {
            return Err(WebhookError::invalid("since", "is required (an ISO 8601 time)").into());
        }
    };
    let e = find(&state, &caller, &id)?;
    let eid = e.id;
    let n = state
        .store
        .write(move |c| {
            deliveries::redeliver_failed_since(c, eid, since).map_err(WebhookError::from)
        })
        .await?;
    Ok(ok(StatusCode::ACCEPTED, json!({"queued": n})))
}
