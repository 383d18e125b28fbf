//! `GET /api/messages`: every outgoing message of the workspace with its status and
//! reason, newest first, filtered by status and paged by cursor. `POST /api/v1/messages`:
//! one transactional email from a template, to an address or a contact, idempotent with
//! `Idempotency-Key`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::messages::{self, MessageStatus};
use crate::auth::policy::Need;
use crate::channels::ChannelKind;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::object_body;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::jobs::{self, JobKind};

/// Routes of the messages API.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/messages", Access::Api(Need::Read), index).post(
        "/api/v1/messages",
        Access::Api(Need::Manage),
        send,
    );
}

#[derive(Deserialize)]
struct Query {
    status: Option<String>,
    channel: Option<String>,
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
    let channel = query.channel.as_deref().filter(|c| !c.is_empty());
    if channel.is_some_and(|c| crate::channels::ChannelKind::parse(c).is_none()) {
        return Err(bad("channel", "must be email, sms or whatsapp"));
    }
    let filter = messages::Filter {
        status: status.as_deref(),
        channel,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let ws = caller.workspace_id;
    let rows = state
        .store
        .read(|c| messages::list(c, ws, &filter, before, limit))?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|m| m.id.to_string()))
        .flatten();
    let data: Vec<_> = rows.iter().map(|m| m.to_json()).collect();
    Ok(HttpResponse::Ok().json(json!({"messages": data, "nextCursor": next})))
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::bad_request(format!("{field} {message}")).with_details(json!({"field": field}))
}

/// A transactional send as asked: `{template, to | contactId, channel?, variables?}`.
struct SendRequest {
    template: String,
    to: Option<String>,
    contact: Option<String>,
    channel: Option<String>,
    variables: Map<String, Value>,
}

fn parse_send(m: &Map<String, Value>) -> Result<SendRequest, ApiError> {
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(bad(key, "must be a non-empty string")),
        }
    };
    for key in m.keys() {
        if !matches!(
            key.as_str(),
            "template" | "to" | "contactId" | "channel" | "variables"
        ) {
            return Err(bad(key, "is not a field of a message"));
        }
    }
    let template = text("template")?.ok_or_else(|| bad("template", "is required"))?;
    let (to, contact) = (text("to")?, text("contactId")?);
    match (&to, &contact) {
        (None, None) => return Err(bad("to", "or contactId is required")),
        (Some(_), Some(_)) => return Err(bad("to", "and contactId cannot both be given")),
        _ => {}
    }
    let variables = match m.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(v)) => v.clone(),
        Some(_) => return Err(bad("variables", "must be an object")),
    };
    Ok(SendRequest {
        template,
        to,
        contact,
        channel: text("channel")?,
        variables,
    })
}

/// The recipient: the contact named (which must have the email or phone number the
/// channel sends to), or a bare address of that kind.
fn recipient(
    conn: &rusqlite::Connection,
    ws: crate::kinds::WorkspaceId,
    r: &SendRequest,
    kind: ChannelKind,
) -> Result<(Option<crate::contacts::Contact>, String), ApiError> {
    let email = kind == ChannelKind::Email;
    match (&r.contact, &r.to) {
        (Some(uid), _) => {
            let contact = crate::contacts::store::get(conn, ws, uid)
                .map_err(|_| bad("contactId", "names no contact of this workspace"))?;
            let to = if email {
                &contact.email
            } else {
                &contact.phone
            };
            let to = to.clone().ok_or_else(|| {
                let what = if email { "an email" } else { "a phone number" };
                bad("contactId", &format!("names a contact without {what}"))
            })?;
            Ok((Some(contact), to))
        }
        (None, Some(to)) if email => match crate::channels::input::is_email(to) {
            true => Ok((None, to.clone())),
            false => Err(bad("to", "must be an email address")),
        },
        (None, Some(to)) => match crate::contacts::normalize_phone(to) {
            Ok(phone) if to.starts_with('+') => Ok((None, phone)),
            _ => Err(bad("to", "must be an E.164 phone number like +14155550123")),
        },
        (None, None) => Err(bad("to", "or contactId is required")),
    }
}

/// Someone to render the template for when no contact is named.
fn bare(to: &str, kind: ChannelKind) -> crate::contacts::Contact {
    let mut someone = crate::contacts::Contact::with_email(to);
    if kind != ChannelKind::Email {
        someone.email = None;
        someone.phone = Some(to.to_string());
    }
    someone
}

/// Queues the message and its send job; answers the body to send back.
fn queue(
    conn: &rusqlite::Connection,
    ws: crate::kinds::WorkspaceId,
    r: &SendRequest,
) -> Result<Value, ApiError> {
    let template = crate::templates::store::get(conn, ws, &r.template)?
        .ok_or_else(|| bad("template", "names no template of this workspace"))?;
    let channel = match &r.channel {
        None => None,
        Some(uid) => Some(
            crate::channels::store::get(conn, ws, uid)?
                .ok_or_else(|| bad("channel", "names no channel of this workspace"))?,
        ),
    };
    let kind = channel.as_ref().map_or(ChannelKind::Email, |c| c.kind());
    if template.kind != kind.as_str() {
        return Err(bad(
            "template",
            &format!(
                "is an {} template; this channel sends {}",
                template.kind,
                kind.as_str()
            ),
        ));
    }
    let (contact, to) = recipient(conn, ws, r, kind)?;
    let someone = contact.clone().unwrap_or_else(|| bare(&to, kind));
    let context = crate::templates::context(
        &someone,
        &Map::new(),
        &r.variables,
        &crate::templates::OptOutUrls::default(),
    );
    let new = messages::NewMessage {
        channel: kind.as_str(),
        contact_id: contact.as_ref().map(|c| c.id),
        enrollment_id: None,
        position: None,
        kind: "transactional",
        to: &to,
        content: messages::Content::Deferred {
            template_id: template.id,
            context: context.to_string(),
        },
        channel_id: channel.as_ref().map(|c| c.id),
        envelope: None,
    };
    let id = messages::create(conn, ws, &new)?
        .ok_or_else(|| crate::store::StoreError::Commit("message not created".into()))?;
    jobs::enqueue(
        conn,
        Some(ws),
        &JobKind::SendMessage { message_id: id },
        crate::store::here().now_ms(),
        jobs::max_attempts(),
    )?;
    Ok(json!({
        "id": messages::uid_of(conn, id)?,
        "status": "queued",
        "to": to,
        "template": template.uid,
        "channel": channel.map(|c| c.uid),
    }))
}

enum Reply {
    Fresh(Value),
    Replay(u16, String),
}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let idem: Option<IdempotencyKey> = idempotency::from_request(&req, "messages.send", &body)?;
    let parsed = parse_send(&object_body(&req, &body)?)?;
    let ws = caller.workspace_id;
    let reply = state
        .store
        .write(move |conn| -> Result<Reply, ApiError> {
            if let Some(key) = &idem
                && let Some(stored) = idempotency::lookup(conn, ws, key)?
            {
                return Ok(Reply::Replay(stored.status, stored.body));
            }
            let answer = queue(conn, ws, &parsed)?;
            if let Some(key) = &idem {
                idempotency::remember(conn, ws, key, 201, &answer.to_string())?;
            }
            Ok(Reply::Fresh(answer))
        })
        .await?;
    state.wakeup.wake();
    Ok(match reply {
        Reply::Fresh(body) => HttpResponse::Created().json(body),
        Reply::Replay(status, body) => idempotency::replayed(status, body),
    })
}
