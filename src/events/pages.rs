//! Events pages: the event log with filters, declared patterns with one-click
//! "Declare them", and the tab bar shared with event sources.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use crate::ui::csrf::CsrfForm;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::log::{self, Filter, LoggedEvent};
use super::patterns;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::store::StoreError;
use crate::ui::csrf;
use crate::ui::{Flash, PageError, format_time, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/events", Access::Page(Need::Read), log_page)
        .post(
            "/events/declare",
            Access::Page(Need::Manage),
            declare_undeclared,
        )
        .get("/events/patterns", Access::Page(Need::Read), patterns_page)
        .post("/events/patterns", Access::Page(Need::Manage), add_pattern)
        .post(
            "/events/patterns/{name}/delete",
            Access::Page(Need::Manage),
            delete_pattern,
        );
}

/// The sub-navigation of the Events area: log, patterns, sources.
pub fn tabs(active: &str) -> Markup {
    html! {
        nav.tabs aria-label="Events" {
            @for (key, href, label) in [("log", "/events", "Log"), ("patterns", "/events/patterns", "Patterns"), ("sources", "/events/sources", "Sources")] {
                a href=(href) class=@if key == active { "active" } { (label) }
            }
        }
    }
}

fn back_to(path: &str, flash: Flash) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path.to_string()))
        .cookie(flash.cookie())
        .finish()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    event_name: Option<String>,
    email: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

/// The event log: a notice about undeclared names, the filters, and one page of events.
async fn log_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "events")?;
    let q = query.into_inner();
    let filter = Filter::parse(
        q.event_name.as_deref(),
        q.email.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        q.cursor.as_deref(),
        Some(50),
    );
    let ws = user.0.workspace.id;
    let (declared, undeclared) = state.store.read(|conn| {
        Ok::<_, StoreError>((patterns::list(conn, ws)?, patterns::undeclared(conn, ws)?))
    })?;
    let (page, problem) = match filter {
        Ok(filter) => (
            Some(
                state
                    .store
                    .read_async(move |conn| log::query(conn, ws, &filter))
                    .await?,
            ),
            None,
        ),
        Err(message) => (None, Some(message)),
    };
    let body = html! {
        (tabs("log"))
        @if !undeclared.is_empty() {
            (undeclared_notice(&undeclared, &user.0.csrf_token))
        }
        (log_filters(&q, &declared, &undeclared))
        @if let Some(problem) = problem {
            p.error role="alert" { (problem) }
        }
        @if let Some(page) = page {
            (log_results(&q, &page))
        }
    };
    Ok(render(&req, Some(&nav), "Events", body))
}

/// Names received but not declared, with the one-click form that declares them all.
fn undeclared_notice(undeclared: &[String], csrf_token: &str) -> Markup {
    html! {
        div.card {
            p {
                (undeclared.len()) " event name" @if undeclared.len() != 1 { "s" } " received but not declared: "
                @for (i, name) in undeclared.iter().take(10).enumerate() {
                    @if i > 0 { ", " } code { (name) }
                }
                @if undeclared.len() > 10 { " …" }
            }
            form method="post" action="/events/declare" {
                input type="hidden" name=(csrf::FIELD) value=(csrf_token);
                button type="submit" { "Declare them" }
            }
        }
    }
}

/// The filter form: event name (declared, undeclared, built-in, or the one asked for),
/// contact email and date range.
fn log_filters(q: &LogQuery, declared: &[patterns::Pattern], undeclared: &[String]) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let selected = value(&q.event_name);
    html! {
        form.filters method="get" action="/events" {
            label { "Event"
                select name="eventName" {
                    option value="" { "All events" }
                    @for p in declared {
                        option value=(p.name) selected[p.name == selected] { (p.name) }
                    }
                    @for name in undeclared {
                        option value=(name) selected[*name == selected] { (name) " (undeclared)" }
                    }
                    @for name in ["contact_added", "contact_updated"] {
                        option value=(name) selected[name == selected] { (name) }
                    }
                    @if !selected.is_empty() && !declared.iter().any(|p| p.name == selected) && !undeclared.contains(&selected) && selected != "contact_added" && selected != "contact_updated" {
                        option value=(selected) selected { (selected) }
                    }
                }
            }
            label { "Contact email" input type="search" name="email" value=(value(&q.email)) placeholder="ada@example.com"; }
            label { "From" input type="date" name="from" value=(value(&q.from)); }
            label { "To" input type="date" name="to" value=(value(&q.to)); }
            button type="submit" { "Filter" }
            a href="/events" { "Clear" }
        }
    }
}

/// One page of matching events with the link to the next, older page.
fn log_results(q: &LogQuery, page: &log::LogPage) -> Markup {
    html! {
        @if page.events.is_empty() {
            p.empty { "No events match." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Time" } th { "Event" } th { "Contact" } th { "Properties" } th { "Source" } } }
                tbody { @for event in &page.events { (event_row(event)) } }
            } }
        }
        @if let Some(cursor) = &page.next_cursor {
            div.pager { a href=(next_link(q, cursor)) { "Older events →" } }
        }
    }
}

fn event_row(event: &LoggedEvent) -> Markup {
    let properties = serde_json::to_string_pretty(&event.properties).unwrap_or_default();
    let shown: String = properties.chars().take(600).collect();
    html! {
        tr {
            td { (format_time(event.created_at)) }
            td {
                code { (event.name) }
                @if !event.declared { " " span.badge.warn title="No pattern declares this name" { "undeclared" } }
            }
            td {
                @if let Some(email) = &event.email {
                    a href=(format!("/contacts/{}", event.contact_uid)) { (email) }
                } @else {
                    a href=(format!("/contacts/{}", event.contact_uid)) { "contact" }
                }
            }
            td { pre.props { (shown) @if properties.len() > shown.len() { "…" } } }
            td { (event.source) }
        }
    }
}

fn next_link(q: &LogQuery, cursor: &str) -> String {
    let pairs: Vec<(&str, &str)> = [
        ("eventName", q.event_name.as_deref()),
        ("email", q.email.as_deref()),
        ("from", q.from.as_deref()),
        ("to", q.to.as_deref()),
        ("cursor", Some(cursor)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect();
    format!(
        "/events?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

async fn declare_undeclared(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let declared = state
        .store
        .write(move |conn| patterns::declare_all_undeclared(conn, ws))
        .await?;
    Ok(back_to(
        "/events",
        Flash::success(format!("Declared {declared} event pattern(s).")),
    ))
}

async fn patterns_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "events")?;
    let ws = user.0.workspace.id;
    let list = state.store.read(|conn| patterns::list(conn, ws))?;
    let body = html! {
        (tabs("patterns"))
        section.card {
            p.muted { "Patterns are the event names this workspace cares about. Events flow whether or not they are declared; undeclared ones are flagged in the log." }
            @if list.is_empty() {
                p.empty { "No patterns declared yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Declared" } th {} th {} } }
                    tbody {
                        @for p in &list {
                            tr {
                                td { code { (p.name) } }
                                td { (format_time(p.created_at)) }
                                td { a href=(format!("/events?{}", serde_urlencoded::to_string([("eventName", p.name.as_str())]).unwrap_or_default())) { "Log →" } }
                                td {
                                    form.inline method="post" action=(format!("/events/patterns/{}/delete", urlencode(&p.name))) data-confirm=(format!("Remove the pattern {}?", p.name)) {
                                        input type="hidden" name=(csrf::FIELD) value=(user.0.csrf_token);
                                        button.danger type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            form.row method="post" action="/events/patterns" {
                input type="hidden" name=(csrf::FIELD) value=(user.0.csrf_token);
                label { "Event name" input type="text" name="name" required maxlength="120" pattern="[A-Za-z][A-Za-z0-9_.\\-]{0,119}" placeholder="signUp"; }
                button type="submit" { "Declare pattern" }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Event patterns", body))
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .unwrap_or_default()
        .trim_start_matches("x=")
        .to_string()
}

#[derive(Deserialize)]
struct PatternForm {
    name: String,
    #[serde(default)]
    csrf_token: String,
}

async fn add_pattern(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<PatternForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let name = form.into_inner().name.trim().to_string();
    if let Err(problem) = patterns::check_name(&name) {
        return Ok(back_to("/events/patterns", Flash::error(problem)));
    }
    let ws = user.0.workspace.id;
    let declared = name.clone();
    state
        .store
        .write(move |conn| patterns::declare(conn, ws, &declared))
        .await?;
    Ok(back_to(
        "/events/patterns",
        Flash::success(format!("Declared {name}.")),
    ))
}

async fn delete_pattern(
    state: web::Data<AppState>,
    user: SignedIn,
    name: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let name = name.into_inner();
    let removed = name.clone();
    state
        .store
        .write(move |conn| patterns::remove(conn, ws, &removed))
        .await?;
    Ok(back_to(
        "/events/patterns",
        Flash::success(format!("Removed {name}.")),
    ))
}
