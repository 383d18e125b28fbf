//! The public URL `/hooks/events/{token}`: `GET` answers `{"ok": true}` so providers can
//! check it; `POST` maps any JSON, or a form-encoded body read into the same shape (see
//! `urlencoded`), to a Sendra-shaped event and ingests it exactly as
//! `POST /api/events/send` would. Every POST leaves a delivery row with its outcome.

use crate::http::routes::{Access, Routes};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::path;
use super::signature;
use super::spec::Scheme;
use super::store::{self, NewDelivery, Outcome, Source};
use super::{EventNameRule, HOOK_PATH};
use crate::automations;
use crate::contacts::{Identity, normalize_email};
use crate::events::api::{SendRequest, parse_send};
use crate::events::ingest::{Origin, ingest};
use crate::http::ApiError;
use crate::http::state::AppState;

/// Longest token looked up; real ones are 64 characters, anything longer is not ours.
const MAX_TOKEN_LEN: usize = 128;
/// Longest event name kept on a skipped delivery (valid names are far shorter).
const MAX_RECORDED_NAME: usize = 200;

/// Routes of the public hook.
pub fn routes(r: &mut Routes<'_>) {
    let path = format!("{HOOK_PATH}{{token}}");
    r.get(&path, Access::Token, probe)
        .post(&path, Access::Token, receive);
}

fn disabled() -> ApiError {
    ApiError::new(StatusCode::GONE, "This event source is disabled")
}

fn find(state: &AppState, token: &str) -> Result<Source, ApiError> {
    let found = if token.len() > MAX_TOKEN_LEN {
        None
    } else {
        state.store.read(|conn| store::by_token(conn, token))?
    };
    found.ok_or_else(|| ApiError::not_found("No event source at this URL"))
}

async fn probe(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let source = find(&state, &token)?;
    if !source.enabled {
        return Err(disabled());
    }
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}

/// What to do with one delivery, decided before anything is written.
enum Decision {
    Reject(StatusCode, String),
    Skip {
        reason: String,
        email: Option<String>,
        event_name: Option<String>,
    },
    Ingest(Box<SendRequest>),
}

async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = token.into_inner();
    let source = find(&state, &token)?;
    let body = read_body(payload, state.config.server.max_body_bytes).await?;
    let key = delivery_key(&req, source.scheme, &body);
    let delivery = |outcome, reason: &str, email, event_name| NewDelivery {
        source_id: source.id,
        workspace_id: source.workspace_id,
        outcome,
        reason: Some(reason.to_string()),
        email,
        event_name,
        event_id: None,
        payload: store::payload_excerpt(&body),
        delivery_key: key.clone(),
    };
    match decide(&state, &source, &req, &body) {
        Decision::Reject(status, reason) => {
            record(&state, delivery(Outcome::Rejected, &reason, None, None)).await?;
            Err(ApiError::new(status, reason))
        }
        Decision::Skip {
            reason,
            email,
            event_name,
        } => {
            record(
                &state,
                delivery(Outcome::Skipped, &reason, email, event_name),
            )
            .await?;
            Ok(skipped(&reason))
        }
        Decision::Ingest(parsed) => {
            let email = Some(parsed.email.clone());
            let name = Some(parsed.event.name.clone());
            let mut accepted = delivery(Outcome::Accepted, "", email.clone(), name.clone());
            accepted.reason = None;
            match write_accepted(&state, token, *parsed, accepted).await {
                Ok(Written::Accepted(outcome)) => Ok(HttpResponse::Ok().json(
                    json!({"ok": true, "enrolled": outcome.enrolled, "exited": outcome.exited}),
                )),
                Ok(Written::Duplicate) => {
                    Ok(HttpResponse::Ok().json(json!({"ok": true, "duplicate": true})))
                }
                Ok(Written::Closed) => Err(ApiError::not_found("No event source at this URL")),
                Ok(Written::Disabled) => Err(disabled()),
                // The contact or event was refused by ingest: report it, stop the retries.
                Err(e) if e.status.is_client_error() => {
                    record(&state, delivery(Outcome::Skipped, &e.message, email, name)).await?;
                    Ok(skipped(&e.message))
                }
                Err(e) => Err(e),
            }
        }
    }
}

fn skipped(reason: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "skipped": reason}))
}

/// Disabled, signature, JSON, then mapping: the first problem decides.
fn decide(state: &AppState, source: &Source, req: &HttpRequest, body: &[u8]) -> Decision {
    if !source.enabled {
        return Decision::Reject(StatusCode::GONE, "This event source is disabled".into());
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let checked = signature::verify(
        source.scheme,
        source.signing_secret.as_deref(),
        header,
        body,
        state.clock().now_ms() / 1000,
    );
    if let Err(reason) = checked {
        return Decision::Reject(
            StatusCode::UNAUTHORIZED,
            format!("Invalid signature: {reason}"),
        );
    }
    if is_form_encoded(req) {
        return match super::urlencoded::to_json(body) {
            Ok(payload) => map(state, source, payload),
            Err(reason) => Decision::Reject(StatusCode::BAD_REQUEST, reason),
        };
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(payload) => map(state, source, payload),
        Err(e) => Decision::Reject(StatusCode::BAD_REQUEST, format!("Invalid JSON: {e}")),
    }
}

/// Whether the delivery is a form post (`application/x-www-form-urlencoded`) rather than
/// JSON; anything else is read as JSON, as providers often send no content type at all.
fn is_form_encoded(req: &HttpRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Builds the Sendra body `{email, eventName, eventProperties}` and validates it with the
/// direct API's own parser, so both doors accept and refuse the same events.
fn map(state: &AppState, source: &Source, payload: Value) -> Decision {
    let skip = |reason: String, email: Option<&str>, event_name: Option<&str>| Decision::Skip {
        reason,
        email: email.and_then(|e| normalize_email(e).ok()),
        event_name: event_name.map(|n| n.chars().take(MAX_RECORDED_NAME).collect()),
    };
    if !payload.is_object() {
        return skip("payload is not a JSON object".into(), None, None);
    }
    let email = match path::string_at(&payload, &source.email_path) {
        Ok(email) => email.to_string(),
        Err(reason) => return skip(reason, None, None),
    };
    let event_name = match &source.event_name {
        EventNameRule::Fixed(name) => name.clone(),
        EventNameRule::Path(p) => match path::string_at(&payload, p) {
            Ok(name) => name.to_string(),
            Err(reason) => return skip(reason, Some(&email), None),
        },
    };
    let mut body = Map::new();
    body.insert("email".into(), Value::String(email.clone()));
    body.insert("eventName".into(), Value::String(event_name.clone()));
    body.insert("eventProperties".into(), payload);
    let origin = Origin {
        kind: "webhook",
        detail: Some(json!({"source": source.name, "sourceId": source.uid})),
        trigger_id: None,
    };
    match parse_send(state, source.workspace_id, &body, origin) {
        Ok(parsed) => Decision::Ingest(Box::new(parsed)),
        Err(e) => skip(e.message, Some(&email), Some(&event_name)),
    }
}

/// The provider's id for a delivery, which stays the same when it retries. Only a value
/// the signature covers may be trusted on a signed source, or anyone holding one captured
/// delivery could replay it inside the tolerance under a fresh id: for Stripe that is the
/// event's `id` in the signed body (never a header), for Standard Webhooks the signed
/// `webhook-id` header. Unsigned sources take `webhook-id` or `svix-id` as sent.
fn delivery_key(req: &HttpRequest, scheme: Scheme, body: &[u8]) -> Option<String> {
    let header = |names: &[&str]| {
        names.iter().find_map(|name| {
            req.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        })
    };
    let id = match scheme {
        Scheme::Stripe => {
            let payload: Value = serde_json::from_slice(body).ok()?;
            payload.get("id")?.as_str()?.to_string()
        }
        Scheme::Standard => header(&["webhook-id"])?,
        Scheme::None => header(&["webhook-id", "svix-id"])?,
    };
    (!id.is_empty()).then(|| id.chars().take(MAX_DELIVERY_KEY).collect())
}

/// Longest provider delivery id kept.
const MAX_DELIVERY_KEY: usize = 200;

/// What the ingest write found.
enum Written {
    Accepted(automations::Outcome),
    /// A retry of a delivery already ingested: recorded, not ingested again.
    Duplicate,
    /// The token no longer opens the source (rotated or deleted meanwhile).
    Closed,
    Disabled,
}

/// Ingests and records the accepted delivery in one transaction.
async fn write_accepted(
    state: &AppState,
    token: String,
    parsed: SendRequest,
    mut delivery: NewDelivery,
) -> Result<Written, ApiError> {
    state
        .store
        .write(move |conn| -> Result<Written, ApiError> {
            match store::still_open(conn, delivery.source_id, &token)? {
                None => return Ok(Written::Closed),
                Some(false) => {
                    delivery.outcome = Outcome::Rejected;
                    delivery.reason = Some("This event source is disabled".into());
                    store::record(conn, &delivery)?;
                    return Ok(Written::Disabled);
                }
                Some(true) => {}
            }
            if let Some(key) = &delivery.delivery_key
                && store::already_accepted(conn, delivery.source_id, key)?
            {
                delivery.outcome = Outcome::Skipped;
                delivery.reason = Some(format!(
                    "retry of delivery {key}, already ingested; not ingested again"
                ));
                store::record(conn, &delivery)?;
                return Ok(Written::Duplicate);
            }
            let identity = Identity {
                email: Some(parsed.email.clone()),
                ..Identity::default()
            };
            let done = ingest(
                conn,
                delivery.workspace_id,
                &identity,
                &parsed.patch,
                &parsed.event,
            )?;
            delivery.event_id = Some(done.event_id);
            store::record(conn, &delivery)?;
            Ok(Written::Accepted(done.automations))
        })
        .await
}

async fn record(state: &AppState, delivery: NewDelivery) -> Result<(), ApiError> {
    state
        .store
        .write(move |conn| store::record(conn, &delivery).map(|_| ()))
        .await
        .map_err(ApiError::from)
}

/// Reads the body up to the app's limit, answering in JSON (the path is not under `/api`).
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Could not read request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
