//! An endpoint's delivery log: the card on its page (filters by state and event, pages
//! of 50 going back by cursor, "redeliver all failed since…"), one delivery's page with
//! every attempt (what was sent, what came back, how long it took), and redelivery.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::super::catalogue::CATALOGUE;
use super::super::deliveries::{self, DeliveryFilter};
use super::super::{Endpoint, EndpointStatus, WebhookError};
use super::{find, page_of};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::kinds::time::parse_time;
use crate::ui::components::{csrf_input, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::{Flash, PageError, render};

/// Deliveries on one page of the log.
const PER_PAGE: usize = 50;
/// Response bodies are shown up to this many characters.
const BODY_EXCERPT: usize = 2000;
const STATES: &[&str] = &["pending", "succeeded", "failed"];

/// The log's filters and cursor, from the query string of the endpoint's page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LogQuery {
    status: Option<String>,
    event: Option<String>,
    /// Only deliveries older than this one (the "Older" link).
    before: Option<i64>,
}

/// One page of the log, with the filters it was read with.
pub(super) struct LogPage {
    rows: Vec<Value>,
    status: Option<String>,
    event: Option<String>,
    before: Option<i64>,
    /// The cursor of the next, older page, when there may be one.
    next: Option<i64>,
}

/// Reads one page of the endpoint's log; an unknown state is no filter.
pub(super) fn load(conn: &Connection, e: &Endpoint, q: &LogQuery) -> Result<LogPage, WebhookError> {
    let status = q.status.clone().filter(|s| STATES.contains(&s.as_str()));
    let event = q.event.clone().filter(|s| !s.trim().is_empty());
    let filter = DeliveryFilter {
        status: status.clone(),
        event: event.clone(),
        before_id: q.before,
        limit: PER_PAGE,
        ..DeliveryFilter::default()
    };
    let found = deliveries::list(conn, e.id, &filter)?;
    let next = (found.len() == PER_PAGE)
        .then(|| found.last().map(|(id, _)| *id))
        .flatten();
    Ok(LogPage {
        rows: found.into_iter().map(|(_, v)| v).collect(),
        status,
        event,
        before: q.before,
        next,
    })
}

/// An ISO time as people read it, to the second.
fn when(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.len() >= 19 => format!("{} UTC", s[..19].replace('T', " ")),
        _ => "—".into(),
    }
}

fn state_badge(status: &str) -> Markup {
    html! {
        @match status {
            "succeeded" => span.badge.good { (status) },
            "failed" => span.badge.bad { (status) },
            _ => span.badge.warn { (status) },
        }
    }
}

fn log_link(e: &Endpoint, page: &LogPage, before: Option<i64>) -> String {
    let mut query = Vec::new();
    if let Some(s) = &page.status {
        query.push(("status", s.clone()));
    }
    if let Some(ev) = &page.event {
        query.push(("event", ev.clone()));
    }
    if let Some(b) = before {
        query.push(("before", b.to_string()));
    }
    let qs = serde_urlencoded::to_string(&query).unwrap_or_default();
    let sep = if qs.is_empty() { "" } else { "?" };
    format!("{}{sep}{qs}#deliveries", page_of(&e.uid))
}

fn filters(e: &Endpoint, page: &LogPage) -> Markup {
    let status = page.status.clone().unwrap_or_default();
    let event = page.event.clone().unwrap_or_default();
    html! {
        form.filters method="get" action=(page_of(&e.uid)) {
            label { "State" select name="status" {
                option value="" { "Any" }
                @for s in STATES { option value=(s) selected[*s == status] { (s) } }
            } }
            label { "Event" select name="event" {
                option value="" { "All events" }
                @for ev in CATALOGUE { option value=(ev.name) selected[ev.name == event] { (ev.name) } }
            } }
            button type="submit" { "Filter" }
            a href=(format!("{}#deliveries", page_of(&e.uid))) { "Clear" }
        }
    }
}

fn rows(e: &Endpoint, page: &LogPage) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr { th { "Created" } th { "Event" } th { "State" } th { "Attempts" } th { "Last answer" } th { "Next attempt" } } }
            tbody { @for d in &page.rows {
                tr {
                    td { a href=(format!("{}/deliveries/{}", page_of(&e.uid), d["_id"].as_str().unwrap_or_default())) { (when(&d["createdAt"])) } }
                    td { code { (d["event"].as_str().unwrap_or_default()) } }
                    td { (state_badge(d["status"].as_str().unwrap_or_default())) }
                    td { (d["attempts"]) }
                    td {
                        @if let Some(s) = d["lastStatus"].as_i64() { "HTTP " (s) " " }
                        @if let Some(err) = d["lastError"].as_str() { span.error { (err) } }
                    }
                    td { @if d["nextAttemptAt"].is_string() { (when(&d["nextAttemptAt"])) } @else { span.muted { "—" } } }
                }
            } }
        } }
    }
}

/// The delivery log card of an endpoint's page.
pub(super) fn log_card(e: &Endpoint, page: &LogPage, user: &SignedIn) -> Markup {
    html! {
        section.card #deliveries {
            h2 { "Delivery log" }
            (filters(e, page))
            @if page.rows.is_empty() {
                p.empty { "No deliveries match. Send a test event to see one here." }
            } @else {
                (rows(e, page))
            }
            div.pager {
                @if page.before.is_some() { a href=(log_link(e, page, None)) { "← Newest" } }
                @if let Some(next) = page.next { a rel="next" href=(log_link(e, page, Some(next))) { "Older →" } }
            }
            @if user.0.role.can_manage() {
                form.row method="post" action=(format!("{}/redeliver-failed", page_of(&e.uid))) {
                    (csrf_input(&user.0.csrf_token))
                    label { "Redeliver every failed delivery created since (UTC)" input type="datetime-local" name="since" required; }
                    button type="submit" { "Redeliver failed" }
                }
            }
        }
    }
}

fn excerpt(body: &str) -> String {
    let mut shown: String = body.chars().take(BODY_EXCERPT).collect();
    if shown.len() < body.len() {
        shown.push('…');
    }
    shown
}

fn attempt_card(a: &Value) -> Markup {
    let headers = serde_json::to_string_pretty(&a["requestHeaders"]).unwrap_or_default();
    html! {
        section.card {
            h3 { "Attempt " (a["attempt"]) " · " (when(&a["at"])) }
            p {
                @match a["responseStatus"].as_i64() {
                    Some(s) => { "Answer: HTTP " (s) }
                    None => { "No answer" }
                }
                " · " (a["durationMs"]) " ms"
            }
            @if let Some(err) = a["error"].as_str() { p.error { (err) } }
            p { strong { "Request headers" } }
            pre { code { (headers) } }
            @if let Some(body) = a["responseBody"].as_str().filter(|b| !b.is_empty()) {
                p { strong { "Response body" } }
                pre { code { (excerpt(body)) } }
            }
        }
    }
}

fn delivery_body(e: &Endpoint, d: &Value, user: &SignedIn) -> Markup {
    let path = format!(
        "{}/deliveries/{}",
        page_of(&e.uid),
        d["_id"].as_str().unwrap_or_default()
    );
    let payload = serde_json::to_string_pretty(&d["body"]).unwrap_or_default();
    let empty = Vec::new();
    let attempts = d["attemptLog"].as_array().unwrap_or(&empty);
    html! {
        p { a href=(format!("{}#deliveries", page_of(&e.uid))) { "← " (e.name) } }
        section.card {
            p { (state_badge(d["status"].as_str().unwrap_or_default())) " " code { (d["event"].as_str().unwrap_or_default()) } }
            p.muted {
                "webhook-id " code { (d["messageId"].as_str().unwrap_or_default()) }
                " · created " (when(&d["createdAt"])) " · " (d["attempts"]) " attempt(s)"
                @if d["nextAttemptAt"].is_string() { " · next attempt " (when(&d["nextAttemptAt"])) }
            }
            @if user.0.role.can_manage() {
                form.inline method="post" action=(format!("{path}/redeliver")) {
                    (csrf_input(&user.0.csrf_token))
                    button type="submit" { "Redeliver" }
                }
                p.muted { "A redelivery is one more attempt now, with the same webhook-id, so a receiver that de-duplicates sees it once." }
            }
            p { strong { "Body" } }
            pre { code { (payload) } }
        }
        h2 { "Attempts" }
        @if attempts.is_empty() { p.empty { "No attempt yet." } }
        @for a in attempts { (attempt_card(a)) }
    }
}

/// `GET /settings/webhooks/{id}/deliveries/{delivery}`: one delivery with its attempts.
pub(super) async fn delivery_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, delivery) = path.into_inner();
    let nav = user.nav(&state, "settings")?;
    let e = find(&state, &user, &id)?;
    let (_, d) = state
        .store
        .read(|conn| deliveries::get(conn, e.id, &delivery))?
        .ok_or(WebhookError::DeliveryNotFound)?;
    let title = format!("Delivery of {}", d["event"].as_str().unwrap_or("an event"));
    Ok(render(
        &req,
        Some(&nav),
        &title,
        delivery_body(&e, &d, &user),
    ))
}

/// `POST …/deliveries/{delivery}/redeliver`: one more attempt of that delivery, now.
pub(super) async fn redeliver(
    state: web::Data<AppState>,
    user: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let (id, delivery) = path.into_inner();
    let e = find(&state, &user, &id)?;
    let back = format!("{}/deliveries/{delivery}", page_of(&e.uid));
    let eid = e.id;
    let queued = state
        .store
        .write(move |conn| deliveries::redeliver(conn, eid, &delivery))
        .await?;
    if !queued {
        return Err(PageError::NotFound);
    }
    let message = match e.status {
        EndpointStatus::Active => "Redelivery queued: the receiver gets the same webhook-id again.",
        EndpointStatus::Disabled => {
            "Redelivery queued; it is sent when the webhook is enabled, with the same webhook-id."
        }
    };
    Ok(redirect(&back, Flash::success(message)))
}

/// The redeliver-failed form.
#[derive(Debug, Deserialize)]
pub(super) struct SinceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    since: String,
}

/// A `datetime-local` value (`2025-01-31T09:30`, seconds optional), read as UTC.
fn local_time(value: &str) -> Option<i64> {
    let value = value.trim();
    parse_time(&format!("{value}Z")).or_else(|| parse_time(&format!("{value}:00Z")))
}

/// `POST /settings/webhooks/{id}/redeliver-failed`: every failed delivery since a time.
pub(super) async fn redeliver_failed(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<SinceForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let e = find(&state, &user, &id)?;
    let back = format!("{}#deliveries", page_of(&e.uid));
    let Some(since) = local_time(&form.since) else {
        return Ok(redirect(
            &back,
            Flash::error("Pick the date and time to redeliver failed deliveries from."),
        ));
    };
    let eid = e.id;
    let n = state
        .store
        .write(move |conn| deliveries::redeliver_failed_since(conn, eid, since))
        .await?;
    let noun = if n == 1 { "delivery" } else { "deliveries" };
    Ok(redirect(
        &back,
        Flash::success(format!("{n} failed {noun} queued again.")),
    ))
}
