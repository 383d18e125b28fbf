//! `POST /api/integration/generic` (seed 002): an application sends one message through
//! the channel its bearer token belongs to. Errors are the seed's: `{error, message,
//! details?}` with `VALIDATION_ERROR`, `ERR_NO_PERMISSION`, `CHANNEL_NOT_FOUND`, `GONE`.
//! A 200 for an email means the message is committed with its send job: it is sent,
//! retried on a temporary failure, or marked failed with the reason, and listed with the
//! others. SMS and WhatsApp are sent while the request waits (`generic_text`), so their
//! 200 means the provider accepted the message, and 402 / 502 carry what it said.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::payload::{self, EmailSend, Problem};
use super::store::{self, Bearer};
use super::{Channel, Settings};
use super::{generic_text, text_payload};
use crate::delivery::messages::{self, Content, NewMessage};
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::jobs::{self, JobKind};
use crate::store::StoreError;
use crate::templates::RenderedEmail;

/// Where applications send.
pub const PATH: &str = "/api/integration/generic";
/// The path of the old integration API, which answers 410 GONE.
pub const LEGACY_PATH: &str = "/api/integration/send";
/// Longest token looked up; real ones are 67 characters.
const MAX_TOKEN_LEN: usize = 128;

/// Routes of the generic integration API.
pub fn routes(r: &mut Routes<'_>) {
    r.post(PATH, Access::Bearer, send)
        .post(LEGACY_PATH, Access::Public, legacy);
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": code, "message": message}))
}

/// The seed's 400 with every bad field in `details[]`.
pub fn invalid(problems: &[Problem]) -> HttpResponse {
    let details: Vec<Value> = problems.iter().map(Problem::to_json).collect();
    HttpResponse::BadRequest().json(json!({
        "error": "VALIDATION_ERROR",
        "message": "Invalid payload, see details",
        "details": details,
    }))
}

fn no_permission() -> HttpResponse {
    error(
        StatusCode::UNAUTHORIZED,
        "ERR_NO_PERMISSION",
        "Missing or invalid token: send Authorization: Bearer <channel token>",
    )
}

fn unavailable() -> HttpResponse {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "The database is unavailable, try again",
    )
}

async fn legacy() -> HttpResponse {
    error(
        StatusCode::GONE,
        "GONE",
        "This endpoint is deprecated: send to POST /api/integration/generic with a channel token",
    )
}

fn bearer(req: &HttpRequest) -> Option<String> {
    crate::http::extract::bearer_token(req).filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
}

fn object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Problem {
            field: "body".into(),
            message: "must be a JSON object".into(),
        }),
        Err(e) => Err(Problem {
            field: "body".into(),
            message: format!("is not valid JSON: {e}"),
        }),
    }
}

async fn send(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(token) = bearer(&req) else {
        return no_permission();
    };
    let channel = match state.store.read(|c| store::by_token(c, &token)) {
        Ok(Bearer::Channel(c)) => c,
        Ok(Bearer::Unknown) => return no_permission(),
        Ok(Bearer::ChannelGone) => {
            return error(
                StatusCode::NOT_FOUND,
                "CHANNEL_NOT_FOUND",
                "The channel of this token was deleted",
            );
        }
        Err(_) => return unavailable(),
    };
    let map = match object(&body) {
        Ok(m) => m,
        Err(p) => return invalid(&[p]),
    };
    if map.contains_key("channelType") {
        return error(
            StatusCode::GONE,
            "GONE",
            "channelType in the body is the deprecated legacy form: the channel comes from the token",
        );
    }
    let (text, field) = match &channel.settings {
        Settings::Email(_) => {
            let email = match payload::email(&map) {
                Ok(e) => e,
                Err(problems) => return invalid(&problems),
            };
            return match queue_email(&state, *channel, token, email).await {
                Ok(answer) => HttpResponse::Ok().json(answer),
                Err(_) => unavailable(),
            };
        }
        Settings::Sms(_) => (text_payload::sms(&map, &channel.uid), "to"),
        Settings::WhatsApp(_) => (text_payload::whatsapp(&map, &channel.uid), "number"),
    };
    let text = match text {
        Ok(t) => t,
        Err(problems) => return invalid(&problems),
    };
    generic_text::send(&state, *channel, token, text, field)
        .await
        .unwrap_or_else(|_| unavailable())
}

/// Commits the message and its send job in one write; answers the seed's success body.
async fn queue_email(
    state: &AppState,
    channel: Channel,
    token: String,
    email: EmailSend,
) -> Result<Value, StoreError> {
    let to = email.to.join(", ");
    let envelope = email.envelope(&channel.uid).to_string();
    let recipients = email.to;
    let rendered = RenderedEmail {
        subject: email.subject,
        html: email.html,
        text: email.text,
    };
    let answer = state
        .store
        .write(move |conn| -> Result<Value, StoreError> {
            let new = NewMessage {
                channel: "email",
                contact_id: None,
                enrollment_id: None,
                position: None,
                kind: "transactional",
                to: &to,
                content: Content::Rendered(&rendered),
                channel_id: Some(channel.id),
                envelope: Some(&envelope),
            };
            let id = messages::create(conn, channel.workspace_id, &new)?
                .ok_or_else(|| StoreError::Commit("message not created".into()))?;
            jobs::enqueue(
                conn,
                Some(channel.workspace_id),
                &JobKind::SendMessage { message_id: id },
                crate::store::here().now_ms(),
                jobs::max_attempts(),
            )?;
            store::touch_token(conn, &token)?;
            Ok(json!({
                "success": true,
                "id": messages::uid_of(conn, id)?,
                "status": "queued",
                "channel": {"id": channel.uid, "type": "email"},
                "to": recipients,
            }))
        })
        .await?;
    state.wakeup.wake();
    Ok(answer)
}
