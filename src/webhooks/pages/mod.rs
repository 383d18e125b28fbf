//! Settings → Webhooks: the workspace's endpoints with their health, an endpoint's page
//! (settings, health, the actions that change it, and its delivery log), the editor
//! ([`editor`]), the secret shown once after a create or a rotation ([`secret`]) and
//! the delivery log with redelivery ([`log`]). Every form is a plain POST with the CSRF
//! field; members see everything but no button that changes anything.

mod editor;
mod log;
mod secret;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::deliveries::{self, RecentOutcomes};
use super::{Endpoint, EndpointStatus, WebhookError, input, masked, outbox, store};
use crate::auth::policy::Need;
use crate::http::extract::SignedIn;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::{Flash, PageError, format_time, render};

/// Where the pages live.
const BASE: &str = "/settings/webhooks";
/// Finished deliveries the success rate is measured over.
const RATE_WINDOW: usize = 100;
/// Outbox messages looked at when counting an endpoint's backlog.
const BACKLOG_SCAN: usize = 1000;

/// Routes of the webhook pages; `new` comes before `{id}` so it is not taken for an id.
pub fn routes(r: &mut Routes<'_>) {
    let at = |rest: &str| format!("{BASE}/{{id}}{rest}");
    r.get(BASE, Access::Page(Need::Read), index)
        .post(BASE, Access::Page(Need::Manage), editor::create)
        .get(
            &format!("{BASE}/new"),
            Access::Page(Need::Manage),
            editor::new_page,
        )
        .get(&at(""), Access::Page(Need::Read), show)
        .post(&at(""), Access::Page(Need::Manage), editor::update)
        .post(&at("/enable"), Access::Page(Need::Manage), enable)
        .post(&at("/disable"), Access::Page(Need::Manage), disable)
        .post(&at("/test"), Access::Page(Need::Manage), send_test)
        .post(&at("/delete"), Access::Page(Need::Manage), delete)
        .post(
            &at("/rotate-secret"),
            Access::Page(Need::Manage),
            secret::rotate,
        )
        .post(
            &at("/redeliver-failed"),
            Access::Page(Need::Manage),
            log::redeliver_failed,
        )
        .get(
            &at("/deliveries/{delivery}"),
            Access::Page(Need::Read),
            log::delivery_page,
        )
        .post(
            &at("/deliveries/{delivery}/redeliver"),
            Access::Page(Need::Manage),
            log::redeliver,
        );
}

impl From<WebhookError> for PageError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid { field, message } => {
                PageError::BadRequest(format!("{field} {message}"))
            }
            WebhookError::NotFound | WebhookError::DeliveryNotFound => PageError::NotFound,
            WebhookError::Store(e) => e.into(),
        }
    }
}

/// The page of one endpoint.
fn page_of(uid: &str) -> String {
    format!("{BASE}/{uid}")
}

/// The user's endpoint with this id; another workspace's is not found.
fn find(state: &AppState, user: &SignedIn, uid: &str) -> Result<Endpoint, PageError> {
    let ws = user.0.workspace.id;
    Ok(state
        .store
        .read(|conn| store::get(conn, ws, uid))?
        .ok_or(WebhookError::NotFound)?)
}

/// What the pages tell about an endpoint's health beyond what the endpoint row holds.
struct Health {
    recent: RecentOutcomes,
    /// Deliveries waiting for a retry.
    pending: i64,
    /// Events it subscribes to that were not attempted yet (at most [`BACKLOG_SCAN`]).
    waiting: usize,
}

fn health(conn: &rusqlite::Connection, e: &Endpoint) -> Result<Health, WebhookError> {
    let counts = deliveries::counts(conn, e.id)?;
    Ok(Health {
        recent: deliveries::recent_outcomes(conn, e.id, RATE_WINDOW)?,
        pending: counts["pending"].as_i64().unwrap_or(0),
        waiting: outbox::waiting_for(conn, e, BACKLOG_SCAN)?,
    })
}

fn rate(recent: &RecentOutcomes) -> String {
    match recent.success_percent() {
        Some(p) => format!("{p:.0}%"),
        None => "—".into(),
    }
}

fn queue(h: &Health) -> String {
    let more = if h.waiting >= BACKLOG_SCAN { "+" } else { "" };
    format!("{} retries, {}{more} new", h.pending, h.waiting)
}

/// The status badge, and why a disabled endpoint was turned off.
fn status_badge(e: &Endpoint) -> Markup {
    html! {
        @match e.status {
            EndpointStatus::Active => span.badge.good { "active" },
            EndpointStatus::Disabled => span.badge.bad { "disabled" },
        }
    }
}

fn disabled_notice(e: &Endpoint) -> Markup {
    html! {
        @if e.status == EndpointStatus::Disabled {
            p.notice.warn role="status" {
                @match &e.disabled_reason {
                    Some(reason) => { "Disabled: " (reason) ". " }
                    None => { "Disabled by hand. " }
                }
                "Events keep queueing; enabling it sends what it missed."
            }
        }
    }
}

fn events_list(events: &[String]) -> Markup {
    html! {
        @for (i, name) in events.iter().enumerate() {
            @if i > 0 { " " }
            code { (name) }
        }
    }
}

fn index_table(found: &[(Endpoint, Health)]) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr { th { "Name" } th { "URL" } th { "Events" } th { "Status" } th { "Success (last " (RATE_WINDOW) ")" } th { "Last error" } th { "Queue" } } }
            tbody { @for (e, h) in found {
                tr {
                    td { a href=(page_of(&e.uid)) { (e.name) } }
                    td { code { (e.url) } }
                    td { (events_list(&e.events)) }
                    td { (status_badge(e)) (disabled_notice(e)) }
                    td { (rate(&h.recent)) }
                    td { @match &e.last_error { Some(err) => { span.error { (err) } } None => { span.muted { "none" } } } }
                    td { (queue(h)) }
                }
            } }
        } }
    }
}

async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "settings")?;
    let ws = user.0.workspace.id;
    let found = state
        .store
        .read_async(
            move |conn| -> Result<Vec<(Endpoint, Health)>, WebhookError> {
                store::all(conn, ws)?
                    .into_iter()
                    .map(|e| {
                        let h = health(conn, &e)?;
                        Ok((e, h))
                    })
                    .collect()
            },
        )
        .await?;
    let body = html! {
        p { a href="/settings" { "← Settings" } }
        section.card {
            p.muted { "Endpoints hear what happens in this workspace: each gets a signed POST (Standard Webhooks) for the events it subscribes to, retried with backoff when it fails." }
            @if user.0.role.can_manage() { p { a.button href=(format!("{BASE}/new")) { "New webhook" } } }
            @if found.is_empty() {
                p.empty { "No webhooks yet." }
            } @else {
                (index_table(&found))
            }
        }
    };
    Ok(render(&req, Some(&nav), "Webhooks", body))
}

fn settings_card(e: &Endpoint) -> Markup {
    html! {
        section.card {
            p { (status_badge(e)) " " code { (e.url) } }
            (disabled_notice(e))
            p { "Events: " (events_list(&e.events)) }
            p.muted {
                "Scope: " @match &e.channel { None => "general (every event of the workspace)", Some(c) => { "channel " code { (c) } } }
                " · " (e.retry_attempts) " retries · timeout " (e.timeout_ms) " ms"
                " · secret " code { (masked(&e.secret)) }
                @if let Some((_, until)) = e.previous_secret { " (the previous one also signs until " (format_time(until)) ")" }
                " · created " (format_time(e.created_at))
            }
            @if !e.headers.is_empty() {
                p.muted { "Extra headers: "
                    @for (i, (k, v)) in e.headers.iter().enumerate() { @if i > 0 { ", " } code { (k) ": " (masked(v)) } }
                }
            }
        }
    }
}

fn health_card(e: &Endpoint, h: &Health) -> Markup {
    let stat =
        |n: String, label: &str| html! { div.stat { span.num { (n) } span.label { (label) } } };
    html! {
        section.card {
            h2 { "Health" }
            div.stats {
                (stat(rate(&h.recent), &format!("Succeeded, last {} finished", h.recent.finished)))
                (stat(h.pending.to_string(), "Waiting for a retry"))
                (stat(format!("{}{}", h.waiting, if h.waiting >= BACKLOG_SCAN { "+" } else { "" }), "New events not sent yet"))
                (stat(e.consecutive_failures.to_string(), "Failures in a row"))
            }
            p.muted {
                "Last success: " (e.last_success_at.map(format_time).unwrap_or_else(|| "never".into()))
                @if let Some(since) = e.failing_since { " · failing since " (format_time(since)) }
            }
            @if let Some(err) = &e.last_error { p { "Last error: " span.error { (err) } } }
        }
    }
}

fn actions_card(e: &Endpoint, user: &SignedIn) -> Markup {
    let token = &user.0.csrf_token;
    let action = |rest: &str| format!("{}{rest}", page_of(&e.uid));
    html! {
        section.card {
            h2 { "Actions" }
            form.inline method="post" action=(action("/test")) {
                (csrf_input(token))
                button type="submit" { "Send test event" }
            }
            " "
            @match e.status {
                EndpointStatus::Active => (danger_button(&action("/disable"), "Disable this webhook? Events keep queueing and are sent when it is enabled again.", token, "Disable")),
                EndpointStatus::Disabled => form.inline method="post" action=(action("/enable")) {
                    (csrf_input(token))
                    button type="submit" { "Enable" }
                },
            }
            " "
            (danger_button(&action("/rotate-secret"), "Rotate the signing secret? The new one is shown once; the old one keeps signing for 24 hours so the receiver can switch.", token, "Rotate secret"))
            p.muted { "A rotation shows the new secret once; calls are signed with both the new and the old secret for 24 hours, so the receiver can switch without losing a call." }
        }
    }
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    query: web::Query<log::LogQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "settings")?;
    let e = find(&state, &user, &id)?;
    let q = query.into_inner();
    let (h, log) = {
        let e = e.clone();
        state
            .store
            .read_async(move |conn| {
                Ok::<_, WebhookError>((health(conn, &e)?, log::load(conn, &e, &q)?))
            })
            .await?
    };
    let manager = user.0.role.can_manage();
    let body = html! {
        p { a href=(BASE) { "← Webhooks" } }
        (settings_card(&e))
        (health_card(&e, &h))
        @if manager { (actions_card(&e, &user)) }
        (log::log_card(&e, &log, &user))
        @if manager {
            (editor::edit_card(&e, &user))
            section.card.narrow {
                h2 { "Delete" }
                p.muted { "Deleting the webhook removes its delivery log. Nothing more is sent to it." }
                (danger_button(&format!("{}/delete", page_of(&e.uid)), &format!("Delete the webhook {}?", e.name), &user.0.csrf_token, "Delete webhook"))
            }
        }
    };
    Ok(render(&req, Some(&nav), &e.name, body))
}

/// Turns the endpoint on or off, through the same rules as the API.
async fn set_status(
    state: &AppState,
    user: &SignedIn,
    uid: &str,
    status: EndpointStatus,
) -> Result<Endpoint, PageError> {
    let current = find(state, user, uid)?;
    let input = input::with_status(&current, status);
    Ok(user
        .write_on(state, uid, move |conn, ws, uid| {
            store::update(conn, ws, uid, &input)
        })
        .await?)
}

async fn enable(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let e = set_status(&state, &user, &id, EndpointStatus::Active).await?;
    Ok(redirect(
        &page_of(&e.uid),
        Flash::success("Webhook enabled; what it missed is sent now."),
    ))
}

async fn disable(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let e = set_status(&state, &user, &id, EndpointStatus::Disabled).await?;
    Ok(redirect(
        &page_of(&e.uid),
        Flash::success("Webhook disabled; events wait until it is enabled again."),
    ))
}

async fn send_test(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let e = find(&state, &user, &id)?;
    let (eid, euid) = (e.id, e.uid.clone());
    user.write_on(&state, &e.uid, move |conn, ws, _| {
        outbox::emit_test(conn, ws, eid, &euid).map_err(WebhookError::from)
    })
    .await?;
    let message = match e.status {
        EndpointStatus::Active => "Test event queued; it shows in the delivery log once sent.",
        EndpointStatus::Disabled => "Test event queued; it is sent when the webhook is enabled.",
    };
    Ok(redirect(&page_of(&e.uid), Flash::success(message)))
}

async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let e = find(&state, &user, &id)?;
    user.write_on(&state, &e.uid, store::delete).await?;
    Ok(redirect(
        BASE,
        Flash::success(format!("Webhook {} deleted.", e.name)),
    ))
}
