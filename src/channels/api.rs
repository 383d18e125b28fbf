//! `/api/channels`: a workspace's channels and their tokens, for owners and admins (an
//! API key, or a session with the right to manage). A token is in the answer that makes
//! or rotates it, and nowhere else.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::dkim::{self, Algorithm};
use super::{Channel, ChannelError, input, store};
use crate::auth::policy::Need;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::json::object_body;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;

/// Routes of the channels API.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/channels", Access::Api(Need::Manage), index)
        .post("/api/channels", Access::Api(Need::Manage), create)
        .get("/api/channels/{id}", Access::Api(Need::Manage), show)
        .patch("/api/channels/{id}", Access::Api(Need::Manage), update)
        .delete("/api/channels/{id}", Access::Api(Need::Manage), delete)
        .post(
            "/api/channels/{id}/dkim",
            Access::Api(Need::Manage),
            set_dkim,
        )
        .post("/api/channels/{id}/test", Access::Api(Need::Manage), test)
        .post(
            "/api/channels/{id}/dkim/check",
            Access::Api(Need::Manage),
            check_dkim,
        )
        .delete(
            "/api/channels/{id}/dkim",
            Access::Api(Need::Manage),
            remove_dkim,
        )
        .post(
            "/api/channels/{id}/tokens",
            Access::Api(Need::Manage),
            create_token,
        )
        .post(
            "/api/channels/{id}/tokens/{token}/rotate",
            Access::Api(Need::Manage),
            rotate_token,
        )
        .delete(
            "/api/channels/{id}/tokens/{token}",
            Access::Api(Need::Manage),
            delete_token,
        );
}

impl From<ChannelError> for ApiError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Invalid { field, message } => {
                ApiError::bad_request(format!("{field} {message}"))
                    .with_details(json!({ "field": field }))
            }
            ChannelError::NotFound => ApiError::not_found("Channel not found"),
            ChannelError::TokenNotFound => ApiError::not_found("Token not found"),
            ChannelError::Store(e) => e.into(),
        }
    }
}

/// A JSON object body, or an empty one when the request has none (every field optional).
fn optional_body(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    object_body(req, body)
}

fn find(state: &AppState, caller: &ApiCaller, id: &str) -> Result<Channel, ApiError> {
    let ws = caller.workspace_id;
    Ok(state
        .store
        .read(|c| store::get(c, ws, id))?
        .ok_or(ChannelError::NotFound)?)
}

/// The channel with its tokens listed.
fn detailed(state: &AppState, channel: &Channel) -> Result<Value, ApiError> {
    let id = channel.id;
    let tokens = state.store.read(|c| store::tokens(c, id))?;
    let mut v = channel.to_json(&state.config.base_url());
    let opted_out = state.store.read(|c| super::opt_outs::count(c, id))?;
    if channel.kind() != super::ChannelKind::Email {
        v["optedOut"] = json!(opted_out);
    }
    v["tokens"] = tokens.iter().map(|t| t.to_json()).collect();
    Ok(v)
}

async fn index(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let channels = state.store.read(|c| store::list(c, ws))?;
    let base = state.config.base_url();
    let data: Vec<Value> = channels.iter().map(|c| c.to_json(&base)).collect();
    Ok(HttpResponse::Ok().json(json!({ "channels": data })))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let parsed = input::parse_new(&object_body(&req, &body)?)?;
    let ws = caller.workspace_id;
    let channel = state
        .store
        .write(move |c| store::create(c, ws, &parsed))
        .await?;
    Ok(HttpResponse::Created().json(detailed(&state, &channel)?))
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &caller, &id)?;
    Ok(HttpResponse::Ok().json(detailed(&state, &channel)?))
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let current = find(&state, &caller, &id)?;
    let parsed = input::parse_update(&object_body(&req, &body)?, &current)?;
    let ws = caller.workspace_id;
    let channel = state
        .store
        .write(move |c| store::update(c, ws, &current.uid, &parsed))
        .await?;
    Ok(HttpResponse::Ok().json(detailed(&state, &channel)?))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let id = id.into_inner();
    state
        .store
        .write(move |c| store::delete(c, ws, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn token_answer(status: StatusCode, info: &super::TokenInfo, token: &str) -> HttpResponse {
    let mut v = info.to_json();
    v["token"] = json!(token);
    HttpResponse::build(status).json(v)
}

async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &caller, &id)?;
    let map = optional_body(&req, &body)?;
    let name = match map.get("name") {
        None | Some(Value::Null) => "Custom integration".to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 100 => {
            s.trim().to_string()
        }
        Some(_) => {
            return Err(
                ChannelError::invalid("name", "must be text of at most 100 characters").into(),
            );
        }
    };
    let (info, token) = state
        .store
        .write(move |c| store::create_token(c, &channel, &name))
        .await?;
    Ok(token_answer(StatusCode::CREATED, &info, &token))
}

async fn rotate_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, token) = path.into_inner();
    let channel = find(&state, &caller, &id)?;
    let (info, fresh) = state
        .store
        .write(move |c| store::rotate_token(c, channel.id, &token))
        .await?;
    Ok(token_answer(StatusCode::OK, &info, &fresh))
}

async fn delete_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, token) = path.into_inner();
    let channel = find(&state, &caller, &id)?;
    state
        .store
        .write(move |c| store::delete_token(c, channel.id, &token))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What a DKIM request asks for: `{algorithm?: "rsa" | "ed25519", selector?, privateKey?}`.
fn dkim_request(map: &Map<String, Value>) -> Result<(String, Algorithm, Option<String>), ApiError> {
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(ChannelError::invalid(key, "must be a string").into()),
        }
    };
    let algorithm = match text("algorithm")?.as_deref() {
        None => Algorithm::Rsa,
        Some(a) => Algorithm::parse(a)
            .ok_or_else(|| ChannelError::invalid("algorithm", "must be \"rsa\" or \"ed25519\""))?,
    };
    let selector = text("selector")?.unwrap_or_else(|| "herald".into());
    if !dkim::valid_selector(&selector) {
        return Err(
            ChannelError::invalid("selector", "must be a DNS label (letters, digits, -)").into(),
        );
    }
    Ok((selector, algorithm, text("privateKey")?))
}

/// Generates (or imports) the mailbox's DKIM key; answers the channel with the record
/// to publish under `dns.dkim`.
async fn set_dkim(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &caller, &id)?;
    let map = optional_body(&req, &body)?;
    let (selector, algorithm, private) = dkim_request(&map)?;
    let made = web::block(move || match private {
        Some(p) => dkim::import(&selector, algorithm, &p),
        None => dkim::generate(&selector, algorithm),
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let key = made.map_err(|e| ChannelError::invalid("privateKey", e))?;
    let channel = state
        .store
        .write(move |c| store::set_dkim(c, &channel, Some(key)))
        .await?;
    Ok(HttpResponse::Ok().json(detailed(&state, &channel)?))
}

async fn remove_dkim(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &caller, &id)?;
    let channel = state
        .store
        .write(move |c| store::set_dkim(c, &channel, None))
        .await?;
    Ok(HttpResponse::Ok().json(detailed(&state, &channel)?))
}

/// `POST /api/channels/{id}/dkim/check`: asks DNS whether the mailbox's DKIM record is
/// published, answered `{name, status: ok | missing | mismatch | unreachable, message,
/// found[]}`.
async fn check_dkim(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &caller, &id)?;
    let super::Settings::Email(mailbox) = &channel.settings else {
        return Err(ChannelError::invalid("kind", "only an email mailbox signs with DKIM").into());
    };
    let (name, published) = super::dns_check::check(&state.config.dns, mailbox)
        .await
        .ok_or_else(|| ChannelError::invalid("dkim", "the mailbox has no DKIM key yet"))?;
    Ok(HttpResponse::Ok().json(super::dns_check::to_json(&name, &published)))
}

/// `POST /api/channels/{id}/test` `{to}`: one email through the mailbox, answered with
/// what the server said (`{ok, detail}`).
async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let channel = find(&state, &caller, &id)?;
    let map = object_body(&req, &body)?;
    let to = map.get("to").and_then(Value::as_str).unwrap_or("").trim();
    if !input::is_email(to) {
        return Err(ChannelError::invalid("to", "must be an email address").into());
    }
    let outcome =
        crate::delivery::channel_test::send(&state.store, &state.config, &channel, to).await;
    Ok(HttpResponse::Ok().json(json!({"ok": outcome.ok, "detail": outcome.detail})))
}
