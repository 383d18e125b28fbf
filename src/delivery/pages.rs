//! The messages page (`/outbox`): every message of every channel with its real status
//! (failed is never shown as sent), what the provider last reported, and why it failed;
//! filtered by status and by channel.

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
    channel: Option<String>,
    before: Option<i64>,
}

/// The channel kinds the page filters by.
const CHANNELS: [&str; 3] = ["email", "sms", "whatsapp"];

async fn outbox(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    query: web::Query<Query>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "outbox")?;
    let ws = user.0.workspace.id;
    let status = query.status.clone().filter(|s| !s.is_empty());
    let channel = query
        .channel
        .clone()
        .filter(|c| CHANNELS.contains(&c.as_str()));
    let filter = messages::Filter {
        status: status.as_deref(),
        channel: channel.as_deref(),
    };
    let before = query.before;
    let (rows, counts) = state.store.read(|conn| {
        Ok::<_, crate::store::StoreError>((
            messages::list(conn, ws, &filter, before, 50)?,
            messages::counts(conn, ws)?,
        ))
    })?;
    let keep = |s: &str| {
        format!(
            "/outbox?status={s}&channel={}",
            channel.clone().unwrap_or_default()
        )
    };
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let body = html! {
        @if state.mailer.is_outbox() {
            p.card { "No SMTP server is configured: messages are written to the outbox folder in the data directory and listed here. Set " code { "[smtp] host" } " to send them for real." }
        }
        div.stats {
            @for s in ["queued", "sending", "sent", "failed", "skipped"] {
                a.stat href=(keep(s)) { span.num { (count(s)) } span.label { (s) } }
            }
        }
        p.filters {
            "Channel: "
            a href=(format!("/outbox?status={}", status.clone().unwrap_or_default())) { @if channel.is_none() { strong { "all" } } @else { "all" } }
            @for c in CHANNELS {
                " · " a href=(format!("/outbox?status={}&channel={c}", status.clone().unwrap_or_default())) { @if channel.as_deref() == Some(c) { strong { (c) } } @else { (c) } }
            }
        }
        @if rows.is_empty() {
            p.empty { "No messages." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Created" } th { "Channel" } th { "To" } th { "Message" } th { "Status" } th { "Reason" } } }
                tbody {
                    @for m in &rows {
                        tr {
                            td { (format_time(m.created_at)) }
                            td { (m.channel) }
                            td { (m.to_address) }
                            td { a href=(format!("/outbox/{}", m.uid)) { (summary(m)) } }
                            td {
                                span class=(match m.status.as_str() { "sent" => "badge good", "failed" => "badge bad", _ => "badge warn" }) { (m.status) }
                                @if let Some(p) = &m.provider_status { " " span.muted { (p) } }
                            }
                            td { (m.reason.clone().unwrap_or_default()) }
                        }
                    }
                }
            } }
            @if rows.len() == 50 {
                div.pager { a href=(format!("{}&before={}", keep(status.as_deref().unwrap_or("")), rows.last().map_or(0, |m| m.id))) { "Older →" } }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Messages", body))
}

/// What a row shows of a message: an email's subject, the start of a text's body.
fn summary(m: &messages::MessageRow) -> String {
    if m.channel == "email" {
        return m.subject.clone();
    }
    let text: String = m.text.chars().take(60).collect();
    if text.is_empty() {
        "(to be rendered)".into()
    } else {
        text
    }
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
            p { (m.channel) " to " strong { (m.to_address) } " · " (m.status)
                @if let Some(p) = &m.provider_status { " · provider: " (p) }
                @if let Some(r) = &m.reason { " · " (r) } }
            p.muted { "Created " (format_time(m.created_at)) @if let Some(at) = m.sent_at { " · sent " (format_time(at)) } " · " (m.attempts) " attempt(s)" }
            @if m.channel == "email" {
                p { "Subject: " (m.subject) }
                iframe.email-preview sandbox="" srcdoc=(m.html) {}
                h3 { "Text part" }
            }
            pre.props { (m.text) }
        }
        section.card {
            h3 { "History" }
            ol.history { @for e in m.history.as_array().into_iter().flatten() {
                li {
                    (format_time(e["at"].as_i64().unwrap_or(0))) " · "
                    @if let Some(s) = e["status"].as_str() { strong { (s) } }
                    @if let Some(p) = e["providerStatus"].as_str() { "provider: " strong { (p) } }
                    @if let Some(r) = e["reason"].as_str() { " · " (r) }
                }
            } }
        }
    };
    Ok(render(&req, Some(&nav), "Message", body))
}
