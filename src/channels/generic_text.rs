//! The SMS and WhatsApp side of `POST /api/integration/generic`: the provider is called
//! while the request waits, because the seed's answers (402 when the channel has no
//! credit, 502 when the provider fails) are the provider's. Nothing is lost on the way:
//! the message and a claimed send job are committed before the call, and the outcome
//! after it, before the answer. If Herald dies during the call, the job's lease runs out
//! and the message is marked failed as interrupted (never sent twice); the caller, who
//! got no answer, decides whether to send again.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::providers::{ProviderError, Sent};
use super::text_payload::TextSend;
use super::{Channel, ChannelKind, opt_outs, payload::Problem, store};
use crate::delivery::messages::{self, Content, MessageRow, MessageStatus, NewMessage};
use crate::delivery::{provider_status, text_send};
use crate::http::state::AppState;
use crate::jobs::{self, ClaimedJob, JobKind};
use crate::store::StoreError;
use crate::templates::RenderedEmail;

/// How long the request holds the send job: past it, a worker takes the job (after a
/// crash) and closes the message as interrupted. Longer than any call can take.
const HOLD_MS: i64 = 5 * 60_000;

/// What the first write found.
enum Started {
    Held(ClaimedJob, Box<MessageRow>),
    OptedOut(String),
}

/// The message committed as `sending`, with its send job held by this request.
fn start(
    conn: &rusqlite::Connection,
    channel: &Channel,
    token: &str,
    text: &TextSend,
) -> Result<Started, StoreError> {
    if let Some(keyword) = opt_outs::keyword(conn, channel.id, &text.to)? {
        return Ok(Started::OptedOut(keyword));
    }
    let body = RenderedEmail {
        subject: String::new(),
        html: String::new(),
        text: text.body.clone(),
    };
    let envelope = text.envelope.to_string();
    let new = NewMessage {
        channel: channel.kind().as_str(),
        contact_id: None,
        enrollment_id: None,
        position: None,
        kind: "transactional",
        to: &text.to,
        content: Content::Rendered(&body),
        channel_id: Some(channel.id),
        envelope: Some(&envelope),
    };
    let id = messages::create(conn, channel.workspace_id, &new)?
        .ok_or_else(|| StoreError::Commit("message not created".into()))?;
    let kind = JobKind::SendMessage { message_id: id };
    let job = jobs::enqueue_claimed(conn, Some(channel.workspace_id), &kind, HOLD_MS, 1)?;
    messages::set_status(conn, id, MessageStatus::Sending, None)?;
    store::touch_token(conn, token)?;
    let message =
        messages::get(conn, id)?.ok_or_else(|| StoreError::Commit("message gone".into()))?;
    Ok(Started::Held(job, Box::new(message)))
}

fn provider_error(status: StatusCode, e: &ProviderError) -> HttpResponse {
    let code = match e {
        ProviderError::Rejected { code, .. } => code.clone(),
        _ => None,
    };
    HttpResponse::build(status).json(json!({
        "error": "PROVIDER_ERROR",
        "message": e.to_string(),
        "providerCode": code,
        "retryable": e.is_temporary(),
    }))
}

fn answer(
    channel: &Channel,
    message: &MessageRow,
    outcome: &Result<Sent, ProviderError>,
) -> HttpResponse {
    match outcome {
        Ok(sent) => {
            let recipient = match channel.kind() {
                ChannelKind::WhatsApp => {
                    json!({"number": message.to_address.trim_start_matches('+')})
                }
                _ => json!({"to": message.to_address}),
            };
            let mut body = json!({
                "success": true,
                "id": message.uid,
                "status": "sent",
                "providerId": sent.provider_id,
                "providerStatus": sent.status,
                "channel": {"id": channel.uid, "type": channel.kind().as_str()},
            });
            if let (Some(b), Some(r)) = (body.as_object_mut(), recipient.as_object()) {
                b.extend(r.clone());
            }
            HttpResponse::Ok().json(body)
        }
        Err(e @ ProviderError::NoCredit(_)) => provider_error(StatusCode::PAYMENT_REQUIRED, e),
        Err(e) => provider_error(StatusCode::BAD_GATEWAY, e),
    }
}

/// Sends one SMS or WhatsApp message through `channel` and answers with the outcome.
pub async fn send(
    state: &web::Data<AppState>,
    channel: Channel,
    token: String,
    text: TextSend,
    recipient_field: &'static str,
) -> Result<HttpResponse, StoreError> {
    let ch = channel.clone();
    let started = state
        .store
        .write(move |conn| start(conn, &ch, &token, &text))
        .await?;
    let (job, message) = match started {
        Started::Held(job, message) => (job, message),
        Started::OptedOut(keyword) => {
            return Ok(super::generic::invalid(&[Problem {
                field: recipient_field.into(),
                message: format!(
                    "opted out of this channel ({keyword}); they can text START to opt back in"
                ),
            }]));
        }
    };
    let callback = channel.webhook_url(&state.config.base_url());
    let allow = state.config.webhooks.allow_private_targets;
    let outcome = text_send::send_blocking(
        &state.store,
        channel.clone(),
        (*message).clone(),
        callback,
        allow,
    )
    .await;
    let recorded = outcome.clone();
    let id = message.id;
    state
        .store
        .write(move |conn| provider_status::record_attempt(conn, &job, id, &recorded, false))
        .await?;
    Ok(answer(&channel, &message, &outcome))
}
