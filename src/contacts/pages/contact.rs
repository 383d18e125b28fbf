//! `/contacts/{id}`: a contact's properties, tags, subscription and event timeline.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::tabs;
use crate::contacts::fields::{self, Field};
use crate::contacts::{Contact, ContactError, store};
use crate::events::log::{self, Filter, LoggedEvent};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::{PageError, format_time, render};

/// Events shown on the page; the event log has the rest.
const TIMELINE: u32 = 50;

/// The contact page.
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let ws = user.0.workspace.id;
    let uid = id.into_inner();
    let (contact, declared, events) = state
        .store
        .read_async(move |conn| -> Result<_, ContactError> {
            let contact = store::get(conn, ws, &uid)?;
            let declared = fields::list(conn, ws)?;
            let filter = Filter {
                contact_id: Some(contact.id),
                limit: TIMELINE,
                ..Filter::default()
            };
            let events = log::query(conn, ws, &filter)?.events;
            Ok((contact, declared, events))
        })
        .await?;
    let title = contact.display_name();
    let body = html! {
        (tabs("list"))
        div.row {
            a.button href=(format!("/contacts/{}/edit", contact.uid)) { "Edit" } " "
            a href=(format!("/contacts/{}/delete", contact.uid)) { "Delete…" }
        }
        (properties(&contact, &declared))
        (timeline(&contact, &events))
    };
    Ok(render(&req, Some(&nav), &title, body))
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn properties(c: &Contact, declared: &[Field]) -> Markup {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let undeclared: Vec<(&String, &Value)> = c
        .properties
        .iter()
        .filter(|(k, _)| !declared.iter().any(|f| &f.key == *k))
        .collect();
    html! {
        section.card {
            h2 { "Properties" }
            div.table-wrap { table {
                tbody {
                    tr { th { "Email" } td { (text(&c.email)) } }
                    tr { th { "First name" } td { (text(&c.first_name)) } }
                    tr { th { "Last name" } td { (text(&c.last_name)) } }
                    tr { th { "Name" } td { (text(&c.name)) } }
                    tr { th { "Phone" } td { (text(&c.phone)) } }
                    tr { th { "External ID" } td { (text(&c.external_id)) } }
                    tr { th { "Subscription" } td {
                        @if c.subscribed { span.badge.good { "subscribed" } } @else { span.badge.bad { "unsubscribed" } }
                    } }
                    tr { th { "Tags" } td {
                        @if c.tags.is_empty() { span.muted { "none" } }
                        @for tag in &c.tags { span.badge { (tag) } " " }
                    } }
                    @for f in declared {
                        tr { th { (f.label) } td { (c.properties.get(&f.key).map(shown).unwrap_or_else(|| "—".into())) } }
                    }
                    @for (key, value) in undeclared {
                        tr { th { (key) " " span.muted { "(not declared)" } } td { (shown(value)) } }
                    }
                    tr { th { "Created" } td { (format_time(c.created_at)) } }
                    tr { th { "Updated" } td { (format_time(c.updated_at)) } }
                    tr { th { "ID" } td { code { (c.uid) } } }
                }
            } }
        }
    }
}

fn source(event: &LoggedEvent) -> String {
    match &event.source_detail {
        Some(Value::String(detail)) => format!("{} ({detail})", event.source),
        _ => event.source.clone(),
    }
}

fn timeline(c: &Contact, events: &[LoggedEvent]) -> Markup {
    html! {
        section.card {
            h2 { "Timeline" }
            @if events.is_empty() {
                p.empty { "No events for this contact yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Time" } th { "Event" } th { "Properties" } th { "Source" } } }
                    tbody {
                        @for e in events {
                            @let props = serde_json::to_string_pretty(&e.properties).unwrap_or_default();
                            tr {
                                td { (format_time(e.created_at)) }
                                td { code { (e.name) } }
                                td { pre.props { (props.chars().take(600).collect::<String>()) } }
                                td { (source(e)) }
                            }
                        }
                    }
                } }
            }
            @if let Some(email) = &c.email {
                p { a href=(format!("/events?{}", serde_urlencoded::to_string([("email", email)]).unwrap_or_default())) { "All events of this contact in the event log →" } }
            }
            p { a href=(format!("/automations/contact/{}", c.uid)) { "Automation enrollments of this contact →" } }
            p { a href=(format!("/lists/contact/{}", c.uid)) { "Lists and consents of this contact →" } }
        }
    }
}
