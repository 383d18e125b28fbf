//! The public side of every form, at `/f/{slug}`:
//!
//! - `GET` the hosted page (works without JavaScript; carries a signed timing token);
//! - `POST` a submission, form-encoded (a browser) or JSON (the embed script, a program);
//! - `OPTIONS` the CORS preflight of cross-origin scripts;
//! - `GET /f/{slug}/token` a fresh timing token, for the embed script.
//!
//! A submission passes, in order: the form's allowed origins (403), the per-IP and
//! per-form rate limits (429 with `Retry-After`), the honeypot (400) and the minimum fill
//! time (429 with `Retry-After` when too soon, 400 when the token is forged or required
//! and missing), then the form's own rules (400 JSON, or the page again with what was
//! typed, 422). Every refusal for spam is kept in `form_spam`; only a submission that
//! passes is written, and its answer comes after the commit.
//!
//! Timing tokens: the hosted page and the script put one in the form; the plain snippet
//! with JavaScript off has none. Such a submission is accepted with the other checks
//! (the lenient rule, so embedding needs no script) unless the form sets
//! `requireToken`, which refuses it.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::answer::{Answer, Cors, cors_for, wants_json};
use super::hosted::{self, Shown};
use super::limiter::{FormLimiter, Limits};
use super::submit::{self, Accepted, HONEYPOT_FIELD, LISTS_FIELD, PublicForm, TOKEN_FIELD};
use super::{Form, FormError, PUBLIC_PATH, SpamReason, store};
use crate::http::ApiError;
use crate::http::client_addr::{client_ip, user_agent};
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::ui::PageError;

/// A genuine timing token older than this counts as none (a tab left open for a week).
const TOKEN_MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// Clocks of two machines never agree exactly; a token this far ahead is still believed.
const TOKEN_SKEW_MS: i64 = 60_000;

/// Routes of the public side.
pub fn routes(r: &mut Routes<'_>) {
    let path = format!("{PUBLIC_PATH}{{slug}}");
    r.get(&format!("{path}/token"), Access::Public, token)
        .get(&path, Access::Public, show)
        .post(&path, Access::Public, receive)
        .options(&path, Access::Public, preflight);
}

impl From<FormError> for PageError {
    fn from(e: FormError) -> Self {
        match e {
            FormError::NotFound => PageError::NotFound,
            FormError::Store(e) => e.into(),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

fn load(state: &AppState, slug: &str) -> Result<Option<PublicForm>, FormError> {
    state.store.read(|conn| submit::public_form(conn, slug))
}

fn not_found(json: bool) -> HttpResponse {
    if json {
        ApiError::not_found("No form at this address").error_response()
    } else {
        PageError::NotFound.error_response()
    }
}

fn failure(json: bool, e: FormError) -> HttpResponse {
    if json {
        ApiError::from(e).error_response()
    } else {
        PageError::from(e).error_response()
    }
}

fn refused_origin(origin: &str) -> ApiError {
    ApiError::forbidden(format!(
        "This form does not accept submissions from {origin}"
    ))
}

fn action(form: &Form) -> String {
    format!("{PUBLIC_PATH}{}", form.slug)
}

fn fresh_token(state: &AppState, form: &Form) -> String {
    state.links.form_token(&form.uid, state.clock().now_ms())
}

/// The hosted page, with the values and mistakes of a submission shown again.
fn hosted_page(
    found: &PublicForm,
    values: &Map<String, Value>,
    mistakes: &[FormError],
    token: &str,
) -> maud::Markup {
    let action = action(&found.form);
    let shown = Shown {
        form: &found.form,
        declared: &found.declared,
        offered: &found.offered,
        values,
        mistakes,
        token: Some(token),
        action: &action,
    };
    hosted::hosted(&found.sender, &shown)
}

async fn show(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let found = load(&state, &slug)?.ok_or(PageError::NotFound)?;
    let id = found.form.id;
    state
        .store
        .write(move |conn| store::record_view(conn, id, "hosted"))
        .await?;
    let token = fresh_token(&state, &found.form);
    let page = hosted_page(&found, &Map::new(), &[], &token);
    let answer = Answer {
        json: false,
        cors: Cors::None,
    };
    Ok(answer.page(&found.form, StatusCode::OK, page))
}

/// The form a script call names and the CORS answer its origin gets, or the JSON
/// answer that ends the call (unknown form, store failure, origin not allowed).
fn script_call(
    state: &AppState,
    req: &HttpRequest,
    slug: &str,
) -> Result<(PublicForm, Cors), Box<HttpResponse>> {
    let found = match load(state, slug) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Box::new(not_found(true))),
        Err(e) => return Err(Box::new(failure(true, e))),
    };
    match cors_for(state, req, &found.form) {
        Ok((cors, _)) => Ok((found, cors)),
        Err(origin) => Err(Box::new(refused_origin(&origin).error_response())),
    }
}

async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (found, cors) = match script_call(&state, &req, &slug) {
        Ok(pair) => pair,
        Err(answer) => return *answer,
    };
    let id = found.form.id;
    if let Err(e) = state
        .store
        .write(move |conn| store::record_view(conn, id, "script"))
        .await
    {
        return failure(true, e);
    }
    let answer = Answer { json: true, cors };
    answer.send(
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "token": fresh_token(&state, &found.form),
                "minFillSeconds": found.form.def.min_fill_seconds,
            })),
    )
}

/// Request headers a cross-origin script may send: the CORS-safe ones a form post uses.
const ALLOWED_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "accept-language",
    "content-language",
];

async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (_, cors) = match script_call(&state, &req, &slug) {
        Ok(pair) => pair,
        Err(answer) => return *answer,
    };
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut allowed: Vec<String> = vec!["Content-Type".into(), "Accept".into()];
    for name in requested.split(',').map(|h| h.trim().to_ascii_lowercase()) {
        if ALLOWED_HEADERS.contains(&name.as_str())
            && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
        {
            allowed.push(name);
        }
    }
    let mut response = HttpResponse::NoContent()
        .insert_header((header::ALLOW, "GET, POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, allowed.join(", ")))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish();
    cors.apply(&mut response);
    response
}

/// Why a submission is refused as spam, with what the person is told.
enum Refusal {
    Rate(u64),
    Honeypot,
    TooFast(u64),
    ForgedToken,
    MissingToken,
}

impl Refusal {
    fn reason(&self) -> SpamReason {
        match self {
            Refusal::Rate(_) => SpamReason::RateLimited,
            Refusal::Honeypot => SpamReason::Honeypot,
            _ => SpamReason::TooFast,
        }
    }

    fn error(&self) -> ApiError {
        let retry = |status: StatusCode, message: String, wait: u64| {
            ApiError::new(status, message).with_header(header::RETRY_AFTER, &wait.to_string())
        };
        match self {
            Refusal::Rate(wait) => retry(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many submissions; try again in {wait} seconds"),
                *wait,
            ),
            Refusal::Honeypot => {
                ApiError::bad_request("This submission looked automated and was not accepted")
            }
            Refusal::TooFast(wait) => retry(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "The form was sent too soon after it was shown; wait {wait} seconds and send it again"
                ),
                *wait,
            ),
            Refusal::ForgedToken => ApiError::bad_request(
                "The form's timing token is not valid; reload the form and send it again",
            ),
            Refusal::MissingToken => ApiError::bad_request(
                "This form must be sent from its page: the timing token (_t) is missing",
            ),
        }
    }
}

fn check_rate(state: &AppState, form: &Form, ip: Option<IpAddr>) -> Result<(), Refusal> {
    let limits = Limits {
        per_ip_per_minute: state.config.forms.per_ip_per_minute,
        per_form_per_minute: state.config.forms.per_form_per_minute,
    };
    state
        .store
        .instance()
        .cache::<FormLimiter>()
        .check(limits, form.id, ip, state.clock().now_ms())
        .map_err(Refusal::Rate)
}

/// The honeypot and the timing token; `Ok` carries the genuine token, if one came.
fn screen(
    state: &AppState,
    form: &Form,
    values: &Map<String, Value>,
) -> Result<Option<String>, Refusal> {
    let text = |key: &str| {
        values
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("")
    };
    if !text(HONEYPOT_FIELD).is_empty() {
        return Err(Refusal::Honeypot);
    }
    let now = state.clock().now_ms();
    let token = text(TOKEN_FIELD);
    let shown = if token.is_empty() {
        None
    } else {
        let shown = state
            .links
            .verify_form_token(&form.uid, token)
            .ok_or(Refusal::ForgedToken)?;
        if shown > now + TOKEN_SKEW_MS {
            return Err(Refusal::ForgedToken);
        }
        (now - shown <= TOKEN_MAX_AGE_MS).then_some(shown)
    };
    let Some(shown) = shown else {
        return if form.def.require_token {
            Err(Refusal::MissingToken)
        } else {
            Ok(None)
        };
    };
    let needed = i64::from(form.def.min_fill_seconds) * 1000;
    let waited = now - shown;
    if waited < needed {
        let wait = ((needed - waited + 999) / 1000).max(1) as u64;
        return Err(Refusal::TooFast(wait));
    }
    Ok(Some(token.to_string()))
}

/// Keeps the refusal in `form_spam`, then answers it.
async fn refuse(
    state: &AppState,
    answer: &Answer,
    found: &PublicForm,
    refusal: Refusal,
    ip: Option<String>,
    values: &Map<String, Value>,
) -> HttpResponse {
    let (id, reason) = (found.form.id, refusal.reason());
    let recorded = state
        .store
        .write(move |conn| store::record_spam(conn, id, reason, ip.as_deref()))
        .await;
    if let Err(e) = recorded {
        return failure(answer.json, e);
    }
    let error = refusal.error();
    let message = error.message.clone();
    answer.either(&found.form, error, || match refusal {
        // A person can fix these: the form again, with what they typed.
        Refusal::TooFast(_) | Refusal::ForgedToken | Refusal::MissingToken => {
            let token = match (&refusal, values.get(TOKEN_FIELD).and_then(Value::as_str)) {
                (Refusal::TooFast(_), Some(kept)) => kept.to_string(),
                _ => fresh_token(state, &found.form),
            };
            let mistakes = [FormError::invalid("", message)];
            hosted_page(found, values, &mistakes, &token)
        }
        Refusal::Rate(_) | Refusal::Honeypot => {
            hosted::refused(&found.sender, &found.form, &message)
        }
    })
}

/// Reads the body up to `limit` and turns it into field values: JSON or form-encoded.
async fn read_values(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
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
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("Malformed JSON: {e}"))),
        },
        "application/x-www-form-urlencoded" => form_values(&body),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the form as application/x-www-form-urlencoded or application/json",
        )),
    }
}

/// Form fields as values: the list choice (`listIds`, repeated) becomes an array; any
/// other repeated field keeps its last value, as a checkbox after its hidden default.
fn form_values(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed form body: {e}")))?;
    let mut values = Map::new();
    for (key, value) in pairs {
        let key = key.trim_end_matches("[]").to_string();
        if key == LISTS_FIELD {
            let slot = values
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = slot {
                items.push(Value::String(value));
            }
        } else {
            values.insert(key, Value::String(value));
        }
    }
    Ok(values)
}

fn mistakes_error(mistakes: &[FormError]) -> ApiError {
    let listed: Vec<Value> = mistakes
        .iter()
        .map(|m| match m {
            FormError::Invalid { field, message } => json!({"field": field, "message": message}),
            other => json!({"field": null, "message": other.to_string()}),
        })
        .collect();
    let first = mistakes
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    ApiError::bad_request(first).with_details(json!({
        "field": listed.first().map(|m| m["field"].clone()),
        "errors": listed,
    }))
}

/// The form's own rules said no: 400 JSON, or the page again with the input (422).
fn mistaken(
    state: &AppState,
    answer: &Answer,
    found: &PublicForm,
    values: &Map<String, Value>,
    mistakes: &[FormError],
    token: Option<String>,
) -> HttpResponse {
    if answer.json {
        return answer.error(mistakes_error(mistakes));
    }
    let token = token.unwrap_or_else(|| fresh_token(state, &found.form));
    let page = hosted_page(found, values, mistakes, &token);
    answer.page(&found.form, StatusCode::UNPROCESSABLE_ENTITY, page)
}

/// Where the "back" link of the success page goes for an embed: the page it was on.
fn embed_page(req: &HttpRequest) -> Option<String> {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let origin = header(header::ORIGIN)?;
    match header(header::REFERER) {
        Some(referer) if referer.starts_with(origin) && referer.len() <= 2000 => {
            Some(referer.to_string())
        }
        _ => Some(origin.to_string()),
    }
}

fn accepted(
    answer: &Answer,
    req: &HttpRequest,
    found: &PublicForm,
    done: &Accepted,
) -> HttpResponse {
    let def = &found.form.def;
    if answer.json {
        return answer.send(HttpResponse::Ok().json(json!({
            "success": true,
            "message": def.success_message,
            "redirectUrl": def.redirect_url,
            "requiresConfirmation": done.requires_confirmation,
        })));
    }
    if let Some(url) = &def.redirect_url {
        return answer.send(
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url.as_str()))
                .finish(),
        );
    }
    let back = matches!(answer.cors, Cors::Any | Cors::Origin(_))
        .then(|| embed_page(req))
        .flatten();
    let page = hosted::done(
        &found.sender,
        &found.form,
        done.requires_confirmation,
        back.as_deref(),
    );
    answer.page(&found.form, StatusCode::OK, page)
}

async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let json = wants_json(&req);
    let found = match load(&state, &slug) {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(json),
        Err(e) => return failure(json, e),
    };
    let (cors, via) = match cors_for(&state, &req, &found.form) {
        Ok(allowed) => allowed,
        Err(origin) => {
            let answer = Answer {
                json,
                cors: Cors::None,
            };
            let error = refused_origin(&origin);
            let message = error.message.clone();
            return answer.either(&found.form, error, || {
                hosted::refused(&found.sender, &found.form, &message)
            });
        }
    };
    let answer = Answer { json, cors };
    let ip = client_ip(&req, &state.trusted_proxies);
    let ip_text = ip.map(|ip| ip.to_string());
    let no_values = Map::new();
    if let Err(refusal) = check_rate(&state, &found.form, ip) {
        return refuse(&state, &answer, &found, refusal, ip_text, &no_values).await;
    }
    let values = match read_values(&req, payload, state.config.server.max_body_bytes).await {
        Ok(values) => values,
        Err(e) => {
            let message = e.message.clone();
            return answer.either(&found.form, e, || {
                hosted::refused(&found.sender, &found.form, &message)
            });
        }
    };
    let token = match screen(&state, &found.form, &values) {
        Ok(token) => token,
        Err(refusal) => return refuse(&state, &answer, &found, refusal, ip_text, &values).await,
    };
    let max = state.config.limits.max_string_bytes;
    let submission = match submit::parse(&found.form, &found.declared, &values, max) {
        Ok(submission) => submission,
        Err(mistakes) => return mistaken(&state, &answer, &found, &values, &mistakes, token),
    };
    let context = submit::context(&found.form, ip_text, user_agent(&req));
    let form = found.form.clone();
    let written = state
        .store
        .write_replayable(move |conn| submit::record(conn, &form, &submission, &context, via))
        .await;
    match written {
        Ok(done) => accepted(&answer, &req, &found, &done),
        Err(e @ FormError::Invalid { .. }) => {
            mistaken(&state, &answer, &found, &values, &[e], token)
        }
        Err(e) => failure(json, e),
    }
}
