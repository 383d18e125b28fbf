//! The Outbox page: every message with its real status (failed is never shown as sent).

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::messages;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::{PageError, format_time, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/outbox", Access::Page(Need::Read), outbox).get(
        "/outbox/{id}",
        Access::Page(Need::Read),
        message,
    );
}

#[derive(Deserialize)]
struct Query {
    status: Option<String>,
    before: Option<i64>,
}

async fn outbox(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    query: web::Query<Query>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "outbox")?;
    let ws = user.0.workspace.id;
    let status = query.status.clone().filter(|s| !s.is_empty());
    let filter = status.clone();
    let before = query.before;
    let (rows, counts) = state.store.read(|conn| {
        Ok::<_, crate::store::StoreError>((
            messages::list(conn, ws, filter.as_deref(), before, 50)?,
            messages::counts(conn, ws)?,
        ))
    })?;
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let body = html! {
        @if state.mailer.is_outbox() {
            p.card { "No SMTP server is configured: messages are written to the outbox folder in the data directory and listed here. Set " code { "[smtp] host" } " to send them for real." }
        }
        div.stats {
            @for s in ["queued", "sending", "sent", "failed", "skipped"] {
                a.stat href=(format!("/outbox?status={s}")) { span.num { (count(s)) } span.label { (s) } }
            }
        }
        @if rows.is_empty() {
            p.empty { "No messages." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Created" } th { "To" } th { "Subject" } th { "Status" } th { "Reason" } } }
                tbody {
                    @for m in &rows {
                        tr {
                            td { (format_time(m.created_at)) }
                            td { (m.to_address) }
                            td { a href=(format!("/outbox/{}", m.uid)) { (m.subject) } }
                            td { span class=(match m.status.as_str() { "sent" => "badge good", "failed" => "badge bad", _ => "badge warn" }) { (m.status) } }
                            td { (m.reason.clone().unwrap_or_default()) }
                        }
                    }
                }
            } }
            @if rows.len() == 50 {
                div.pager { a href=(format!("/outbox?status={}&before={}", status.clone().unwrap_or_default(), rows.last().map_or(0, |m| m.id))) { "Older →" } }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Outbox", body))
}

async fn message(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "outbox")?;
    let ws = user.0.workspace.id;
    let m = state
        .store
        .read(|conn| messages::get_by_uid(conn, ws, &id))?
        .ok_or(PageError::NotFound)?;
    let body = html! {
        section.card {
            p { "To " strong { (m.to_address) } " · " (m.status) @if let Some(r) = &m.reason { " · " (r) } }
            p { "Subject: " (m.subject) }
            iframe.email-preview sandbox="" srcdoc=(m.html) {}
            h3 { "Text part" }
            pre.props { (m.text) }
        }
    };
    Ok(render(&req, Some(&nav), "Message", body))
}
