//! The providers' webhooks for a channel, at its `webhookUrl`:
//! `/api/channels/{id}/sms` takes Twilio's status callbacks and inbound messages (form
//! posts signed with `X-Twilio-Signature`), `/api/channels/{id}/whatsapp` answers Meta's
//! subscription check (GET with `hub.verify_token`) and takes the Cloud API's status and
//! message webhooks (JSON signed with `X-Hub-Signature-256`). Nothing is believed before
//! its signature checks with the channel's own credentials: a bad or missing signature
//! gets 403 and changes nothing. Statuses move the message on (`delivered`, `read`,
//! `failed` with the provider's reason); STOP-family keywords opt the sender out of the
//! channel, START lets them back in.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::providers::{StatusUpdate, twilio, whatsapp};
use super::{Channel, ChannelKind, Settings, opt_outs, store};
use crate::delivery::provider_status;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::store::StoreError;

/// Routes of the provider webhooks.
pub fn routes(r: &mut Routes<'_>) {
    r.post("/api/channels/{id}/sms", Access::Signed, twilio_hook)
        .get(
            "/api/channels/{id}/whatsapp",
            Access::Signed,
            whatsapp_verify,
        )
        .post("/api/channels/{id}/whatsapp", Access::Signed, whatsapp_hook);
}

fn refused(message: &str) -> HttpResponse {
    HttpResponse::Forbidden().json(json!({"error": "FORBIDDEN", "message": message}))
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .json(json!({"error": "CHANNEL_NOT_FOUND", "message": "No such channel"}))
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(json!({"error": "UNAVAILABLE", "message": "The database is unavailable, try again"}))
}

/// Why a webhook's channel could not be had: no such channel of that kind, or no store.
enum Missing {
    Channel,
    Store,
}

impl Missing {
    fn answer(self) -> HttpResponse {
        match self {
            Missing::Channel => not_found(),
            Missing::Store => unavailable(),
        }
    }
}

/// The channel a webhook names, of the kind its path says.
fn channel(state: &AppState, uid: &str, kind: ChannelKind) -> Result<Channel, Missing> {
    match state.store.read(|c| store::by_uid(c, uid)) {
        Ok(Some(c)) if c.kind() == kind => Ok(c),
        Ok(_) => Err(Missing::Channel),
        Err(_) => Err(Missing::Store),
    }
}

/// What one webhook asks of the store.
#[derive(Default)]
struct Changes {
    statuses: Vec<StatusUpdate>,
    opted_out: Vec<(String, String)>,
    opted_in: Vec<String>,
}

async fn apply(state: &AppState, channel_id: i64, changes: Changes) -> HttpResponse {
    let written = state
        .store
        .write(move |conn| -> Result<(), StoreError> {
            for update in &changes.statuses {
                provider_status::apply(conn, channel_id, update)?;
            }
            for (address, keyword) in &changes.opted_out {
                opt_outs::record(conn, channel_id, address, keyword)?;
            }
            for address in &changes.opted_in {
                opt_outs::clear(conn, channel_id, address)?;
            }
            Ok(())
        })
        .await;
    match written {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(_) => unavailable(),
    }
}

/// The keywords that let a sender back in (Twilio's defaults).
fn is_opt_in(body: &str) -> bool {
    ["START", "UNSTOP", "YES"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(body.trim()))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn twilio_hook(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let found = match channel(&state, &id, ChannelKind::Sms) {
        Ok(c) => c,
        Err(missing) => return missing.answer(),
    };
    let Settings::Sms(number) = &found.settings else {
        return not_found();
    };
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return refused("the body is not a form");
    };
    let signature = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let url = found.webhook_url(&state.config.base_url());
    if !twilio::verify_signature(&number.account.auth_token, &url, &params, signature) {
        return refused("X-Twilio-Signature does not match this channel's auth token");
    }
    let mut changes = Changes::default();
    if let Some(update) = twilio::status_update(&params) {
        changes.statuses.push(update);
    } else {
        let from = param(&params, "From").to_string();
        let body = param(&params, "Body");
        let opt = param(&params, "OptOutType");
        if twilio::is_opt_out(&params) {
            let keyword = body.trim().to_ascii_uppercase();
            changes.opted_out.push((
                from,
                if keyword.is_empty() {
                    "STOP".into()
                } else {
                    keyword
                },
            ));
        } else if opt.eq_ignore_ascii_case("START") || is_opt_in(body) {
            changes.opted_in.push(from);
        }
    }
    apply(&state, found.id, changes).await
}

#[derive(serde::Deserialize)]
struct Verify {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn whatsapp_verify(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<Verify>,
) -> HttpResponse {
    let found = match channel(&state, &id, ChannelKind::WhatsApp) {
        Ok(c) => c,
        Err(missing) => return missing.answer(),
    };
    let Settings::WhatsApp(number) = &found.settings else {
        return not_found();
    };
    let token_ok = query.token.as_deref().is_some_and(|t| {
        !number.verify_token.is_empty()
            && crate::auth::secrets::constant_time_eq(t.as_bytes(), number.verify_token.as_bytes())
    });
    match (query.mode.as_deref(), token_ok, &query.challenge) {
        (Some("subscribe"), true, Some(challenge)) => HttpResponse::Ok()
            .content_type("text/plain")
            .body(challenge.clone()),
        _ => refused("hub.verify_token does not match this channel's verify token"),
    }
}

async fn whatsapp_hook(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let found = match channel(&state, &id, ChannelKind::WhatsApp) {
        Ok(c) => c,
        Err(missing) => return missing.answer(),
    };
    let Settings::WhatsApp(number) = &found.settings else {
        return not_found();
    };
    let signature = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if number.app_secret.is_empty()
        || !whatsapp::verify_signature(&number.app_secret, &body, signature)
    {
        return refused("X-Hub-Signature-256 does not match this channel's app secret");
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return refused("the body is not JSON");
    };
    let changes = Changes {
        statuses: whatsapp::status_updates(&payload),
        opted_out: whatsapp::opt_outs(&payload)
            .into_iter()
            .map(|wa_id| {
                (
                    format!("+{}", wa_id.trim_start_matches('+')),
                    "STOP".to_string(),
                )
            })
            .collect(),
        opted_in: Vec::new(),
    };
    apply(&state, found.id, changes).await
}
