//! The webhook editor: `/settings/webhooks/new` and the settings card of an endpoint's
//! page. It is one plain HTML form whose fields are turned into the API's JSON body and
//! read by [`input::parse`], so the page and the API accept and refuse exactly the same
//! things. A mistake shows the form again (422) with everything as typed and the message
//! next to its field.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::super::catalogue::CATALOGUE;
use super::super::{Endpoint, WebhookError, input, masked, store};
use super::{BASE, find, page_of, secret};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, redirect};
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, PageError, render};

/// Empty header rows offered beyond the endpoint's own.
const SPARE_HEADER_ROWS: usize = 2;
/// Header rows at most: the API's limit on headers.
const MAX_HEADER_ROWS: usize = 10;

/// One extra request header as typed.
#[derive(Debug, Clone, Default)]
struct HeaderRow {
    name: String,
    value: String,
}

/// The editor's fields as typed, kept whole so that a mistake shows them again.
#[derive(Debug, Clone, Default)]
struct Draft {
    name: String,
    url: String,
    events: Vec<String>,
    retry_attempts: String,
    timeout_ms: String,
    scope: String,
    headers: Vec<HeaderRow>,
}

fn blank_rows(n: usize) -> impl Iterator<Item = HeaderRow> {
    std::iter::repeat_with(HeaderRow::default).take(n)
}

impl Draft {
    /// A new endpoint's form: the API's defaults, nothing subscribed yet.
    fn new() -> Draft {
        Draft {
            retry_attempts: "3".into(),
            timeout_ms: "10000".into(),
            scope: "general".into(),
            headers: blank_rows(SPARE_HEADER_ROWS + 1).collect(),
            ..Draft::default()
        }
    }

    /// The form filled from a stored endpoint; header values stay hidden (an empty value
    /// keeps the stored one).
    fn of(e: &Endpoint) -> Draft {
        let own = e.headers.keys().map(|name| HeaderRow {
            name: name.clone(),
            value: String::new(),
        });
        let spare = MAX_HEADER_ROWS
            .saturating_sub(e.headers.len())
            .min(SPARE_HEADER_ROWS);
        Draft {
            name: e.name.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            retry_attempts: e.retry_attempts.to_string(),
            timeout_ms: e.timeout_ms.to_string(),
            scope: if e.channel.is_some() {
                "channel"
            } else {
                "general"
            }
            .into(),
            headers: own.chain(blank_rows(spare)).collect(),
        }
    }

    /// The form as posted.
    fn from_pairs(pairs: &[(String, String)]) -> Draft {
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let headers = (0..MAX_HEADER_ROWS)
            .filter_map(|i| {
                let name = get(&format!("header_name_{i}"));
                let value = get(&format!("header_value_{i}"));
                (name.is_some() || value.is_some()).then(|| HeaderRow {
                    name: name.unwrap_or_default(),
                    value: value.unwrap_or_default(),
                })
            })
            .collect();
        Draft {
            name: get("name").unwrap_or_default(),
            url: get("url").unwrap_or_default(),
            events: pairs
                .iter()
                .filter(|(k, _)| k == "events")
                .map(|(_, v)| v.clone())
                .collect(),
            retry_attempts: get("retry_attempts").unwrap_or_default(),
            timeout_ms: get("timeout_ms").unwrap_or_default(),
            scope: get("scope").unwrap_or_else(|| "general".into()),
            headers,
        }
    }

    /// The API's JSON body for this form; an empty header value keeps what `base` has.
    fn body(&self, base: Option<&Endpoint>) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name));
        body.insert("url".into(), json!(self.url));
        body.insert("events".into(), json!(self.events));
        for (key, typed) in [
            ("retryAttempts", &self.retry_attempts),
            ("timeoutMs", &self.timeout_ms),
        ] {
            let typed = typed.trim();
            if !typed.is_empty() {
                // Not a number: passed on as text, so the API's message names the field.
                let value = typed
                    .parse::<i64>()
                    .map_or_else(|_| json!(typed), |n| json!(n));
                body.insert(key.into(), value);
            }
        }
        body.insert("scope".into(), json!({ "type": self.scope }));
        let mut headers = Map::new();
        for row in &self.headers {
            let name = row.name.trim();
            if name.is_empty() {
                continue;
            }
            let value = match base.and_then(|b| b.headers.get(name)) {
                Some(kept) if row.value.is_empty() => kept.clone(),
                _ => row.value.clone(),
            };
            headers.insert(name.to_string(), json!(value));
        }
        body.insert("headers".into(), Value::Object(headers));
        body
    }
}

/// A mistake as shown: the form field it belongs to, and the sentence.
struct Mistake {
    field: &'static str,
    message: String,
}

impl Mistake {
    /// Places an `input::parse` error (`events[2]`, `headers.X-Token`, …) by its field.
    fn of(field: &str, message: &str) -> Mistake {
        let group = field.split(['.', '[']).next().unwrap_or(field);
        let (key, label) = match group {
            "name" => ("name", "Name".to_string()),
            "url" => ("url", "URL".into()),
            "events" if field.contains('[') => ("events", "Events:".into()),
            "events" => ("events", "Events".into()),
            "retryAttempts" => ("retry_attempts", "Retries".into()),
            "timeoutMs" => ("timeout_ms", "The timeout".into()),
            "headers" => match field.strip_prefix("headers.") {
                Some(h) => ("headers", format!("The header {h}")),
                None => ("headers", "Headers".into()),
            },
            "scope" => ("scope", "The scope".into()),
            _ => ("form", field.to_string()),
        };
        Mistake {
            field: key,
            message: format!("{label} {message}"),
        }
    }
}

fn mistake(e: WebhookError) -> Result<Mistake, PageError> {
    match e {
        WebhookError::Invalid { field, message } => Ok(Mistake::of(&field, &message)),
        other => Err(other.into()),
    }
}

/// What can be ticked: `*`, one `prefix.*` per family of events, then every event.
fn options() -> Vec<(String, String)> {
    let mut out = vec![(
        "*".to_string(),
        "Everything, including events added later".to_string(),
    )];
    for e in CATALOGUE {
        let prefix = e.name.split_once('.').map_or(e.name, |(p, _)| p);
        let pattern = format!("{prefix}.*");
        if !out.iter().any(|(v, _)| *v == pattern) {
            out.push((pattern, format!("Every {prefix} event")));
        }
    }
    out.extend(
        CATALOGUE
            .iter()
            .map(|e| (e.name.to_string(), e.fires.to_string())),
    );
    out
}

fn events_fieldset(draft: &Draft) -> Markup {
    let options = options();
    let extra: Vec<&String> = draft
        .events
        .iter()
        .filter(|e| !options.iter().any(|(v, _)| v == *e))
        .collect();
    html! {
        fieldset {
            legend { "Events it subscribes to" }
            @for (value, about) in &options {
                label.check {
                    input type="checkbox" name="events" value=(value) checked[draft.events.contains(value)];
                    " " code { (value) } " " span.muted { (about) }
                }
            }
            @for value in extra {
                label.check {
                    input type="checkbox" name="events" value=(value) checked;
                    " " code { (value) } " " span.muted { "(not in the catalogue: reserved, or kept as given)" }
                }
            }
        }
    }
}

fn headers_fieldset(draft: &Draft, stored: &BTreeMap<String, String>) -> Markup {
    html! {
        fieldset {
            legend { "Extra request headers " span.muted { "(an Authorization token, say)" } }
            @if !stored.is_empty() {
                p.muted { "Stored values are never shown again: leave a value empty to keep it, clear a name to remove its header." }
            }
            @for (i, row) in draft.headers.iter().enumerate() {
                div.filters {
                    label { "Name" input type="text" name=(format!("header_name_{i}")) value=(row.name) maxlength="64" placeholder="Authorization"; }
                    label { "Value" input type="text" name=(format!("header_value_{i}")) value=(row.value) maxlength="1024"
                        placeholder=(stored.get(row.name.trim()).map(|v| format!("{} (kept)", masked(v))).unwrap_or_default()); }
                }
            }
        }
    }
}

/// The whole form, posting to `action`.
fn editor(
    draft: &Draft,
    stored: &BTreeMap<String, String>,
    token: &str,
    action: &str,
    mistake: Option<&Mistake>,
) -> Markup {
    let error = |field: &str| {
        html! { @if let Some(m) = mistake.filter(|m| m.field == field) { p.error role="alert" { (m.message) } } }
    };
    html! {
        form.stack method="post" action=(action) {
            (csrf_input(token))
            (error("form"))
            label { "Name" input type="text" name="name" value=(draft.name) required maxlength="200" placeholder="CRM sync"; }
            (error("name"))
            label { "URL " span.muted { "(Herald POSTs each event here)" } input type="url" name="url" value=(draft.url) required maxlength="2048" placeholder="https://example.com/webhooks/herald"; }
            (error("url"))
            (events_fieldset(draft))
            (error("events"))
            fieldset {
                legend { "Scope" }
                label.check { input type="radio" name="scope" value="general" checked[draft.scope != "channel"]; " General: every event of the workspace" }
                label.check { input type="radio" disabled; " One channel " span.muted { "(comes with channels)" } }
            }
            (error("scope"))
            label { "Retries after a failed attempt " span.muted { "(0 to 10; waits of about 10 s, 40 s, 160 s, …)" }
                input type="number" name="retry_attempts" value=(draft.retry_attempts) min="0" max="10"; }
            (error("retry_attempts"))
            label { "Timeout per attempt, ms " span.muted { "(100 to 60000)" }
                input type="number" name="timeout_ms" value=(draft.timeout_ms) min="100" max="60000"; }
            (error("timeout_ms"))
            (headers_fieldset(draft, stored))
            (error("headers"))
            button type="submit" { "Save webhook" }
        }
    }
}

/// The settings card of an endpoint's page: the editor filled from the endpoint.
pub(super) fn edit_card(e: &Endpoint, user: &SignedIn) -> Markup {
    html! {
        section.card.narrow #settings {
            h2 { "Settings" }
            (editor(&Draft::of(e), &e.headers, &user.0.csrf_token, &page_of(&e.uid), None))
        }
    }
}

/// The form again after a mistake, 422, with what was typed.
fn again(
    state: &AppState,
    req: &HttpRequest,
    user: &SignedIn,
    draft: &Draft,
    base: Option<&Endpoint>,
    mistake: &Mistake,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(state, "settings")?;
    let (action, back, title) = match base {
        Some(e) => (page_of(&e.uid), page_of(&e.uid), format!("Edit {}", e.name)),
        None => (
            BASE.to_string(),
            BASE.to_string(),
            "New webhook".to_string(),
        ),
    };
    let stored = base.map(|e| e.headers.clone()).unwrap_or_default();
    let body = html! {
        p { a href=(back) { "← Back" } }
        section.card.narrow { (editor(draft, &stored, &user.0.csrf_token, &action, Some(mistake))) }
    };
    Ok(render_with_status(
        req,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(&nav),
        &title,
        body,
    ))
}

fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map_or("", |(_, v)| v.as_str())
}

/// `GET /settings/webhooks/new`: the empty form.
pub(super) async fn new_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "settings")?;
    let body = html! {
        p { a href=(BASE) { "← Webhooks" } }
        section.card.narrow { (editor(&Draft::new(), &BTreeMap::new(), &user.0.csrf_token, BASE, None)) }
    };
    Ok(render(&req, Some(&nav), "New webhook", body))
}

/// `POST /settings/webhooks`: creates the endpoint and shows its secret, once.
pub(super) async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let pairs = form.into_inner();
    user.check_csrf(csrf_of(&pairs))?;
    let draft = Draft::from_pairs(&pairs);
    let allow_private = state.config.webhooks.allow_private_targets;
    let input = match input::parse(&draft.body(None), None, allow_private) {
        Ok(input) => input,
        Err(e) => return again(&state, &req, &user, &draft, None, &mistake(e)?),
    };
    let ws = user.0.workspace.id;
    let by = format!("user_{}", user.0.user_id);
    let created = state
        .store
        .write(move |conn| store::create(conn, ws, &input, &by))
        .await?;
    let nav = user.nav(&state, "settings")?;
    Ok(secret::shown(&req, &nav, &created, "Webhook created"))
}

/// `POST /settings/webhooks/{id}`: saves the settings card.
pub(super) async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let pairs = form.into_inner();
    user.check_csrf(csrf_of(&pairs))?;
    let current = find(&state, &user, &id)?;
    let draft = Draft::from_pairs(&pairs);
    let allow_private = state.config.webhooks.allow_private_targets;
    let input = match input::parse(&draft.body(Some(&current)), Some(&current), allow_private) {
        Ok(input) => input,
        Err(e) => return again(&state, &req, &user, &draft, Some(&current), &mistake(e)?),
    };
    let saved = user
        .write_on(&state, &current.uid, move |conn, ws, uid| {
            store::update(conn, ws, uid, &input)
        })
        .await?;
    Ok(redirect(
        &page_of(&saved.uid),
        Flash::success(format!("Webhook {} saved.", saved.name)),
    ))
}
