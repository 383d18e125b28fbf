//! `GET /automations/{id}`: the definition summary, the trigger inspector with its
//! "Log →" link, enrollment counts and the enrollments with their step history and the
//! real status of their messages; `GET /automations/contact/{uid}`: one contact's
//! enrollments in every automation.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use super::form::{join, value_text};
use super::list::trigger_label;
use super::{log_url, state_badge, status_badge, status_buttons};
use crate::automations::definition::{Condition, Definition, Frequency, Step, TriggerType};
use crate::automations::listing::{Listing, enrollments_json};
use crate::automations::store::{self, Automation, Counts};
use crate::contacts::ContactError;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::store::StoreError;
use crate::ui::components::danger_button;
use crate::ui::{PageError, render};

/// A condition in words: `contact.tags contains "vip" and event.plan eq "pro"`.
fn describe(c: &Condition) -> String {
    let group = |items: &[Condition], word: &str| {
        items
            .iter()
            .map(|c| format!("({})", describe(c)))
            .collect::<Vec<_>>()
            .join(word)
    };
    match c {
        Condition::All { all } => group(all, " and "),
        Condition::Any { any } => group(any, " or "),
        Condition::Not { not } => format!("not ({})", describe(not)),
        Condition::MemberOf { member_of } => format!("member of list {member_of}"),
        Condition::Segment { segment } => format!("in segment {segment}"),
        Condition::Compare(cmp) => {
            let op = serde_json::to_value(cmp.op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            if cmp.value.is_null() {
                format!("{} {op}", cmp.field)
            } else {
                format!("{} {op} {}", cmp.field, cmp.value)
            }
        }
    }
}

fn inspector(def: &Definition) -> Markup {
    let log_event = match def.trigger.kind {
        TriggerType::Event => def.trigger.event.clone(),
        TriggerType::ContactAdded => Some("contact_added".into()),
        TriggerType::ContactUpdated => Some("contact_updated".into()),
        TriggerType::ListJoined => Some("list_joined".into()),
    };
    html! {
        section.card #trigger {
            h2 { "Trigger" }
            p {
                strong { "Starts when: " }
                @match (def.trigger.kind, def.trigger.key()) {
                    (TriggerType::Event, Some(e)) => { "Event received " code { (e) } }
                    (TriggerType::ListJoined, Some(l)) => { "Contact joined list " code { (l) } }
                    (TriggerType::ContactAdded, _) => { "Contact added" }
                    (TriggerType::ContactUpdated, _) => { "Contact updated" }
                    _ => { (def.trigger.kind.as_str()) }
                }
                @if let Some(event) = &log_event { " " a href=(log_url(event)) { "Log →" } }
            }
            p { strong { "Frequency: " } @if def.frequency == Frequency::EveryTime { "Every time" } @else { "One time per contact" } }
            p {
                strong { "Exit on events: " }
                @if def.exit_on.is_empty() { span.muted { "none" } }
                @for (i, e) in def.exit_on.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (e) } " " a href=(log_url(e)) title=(format!("Events named {e}")) { "Log →" }
                }
            }
            p { strong { "Filters: " } @match &def.filters { Some(f) => { code { (describe(f)) } } None => { span.muted { "none (every triggering contact)" } } } }
        }
    }
}

fn step_summary(steps: &[Step], prefix: &str, templates: &HashMap<String, String>) -> Markup {
    html! {
        ol.indented {
            @for (i, step) in steps.iter().enumerate() {
                @let pos = join(prefix, i);
                li {
                    code { (pos) } " "
                    @match step {
                        Step::Sms { template, channel } | Step::Whatsapp { template, channel } => {
                            "Send " (step.kind()) " "
                            @match templates.get(template) {
                                Some(name) => { a href=(format!("/templates/{template}")) { (name) } }
                                None => { span.badge.bad { "missing template " (template) } }
                            }
                            " through " code { (channel) }
                        }
                        Step::Email { template, .. } => {
                            "Send email "
                            @match templates.get(template) {
                                Some(name) => { a href=(format!("/templates/{template}")) { (name) } }
                                None => { span.badge.bad { "missing template " (template) } }
                            }
                        }
                        Step::Wait { duration, until } => {
                            @if let Some(d) = duration { "Wait " (d) } @else if let Some(u) = until { "Wait until " (u) }
                        }
                        Step::Branch { condition, then, otherwise } => {
                            "If " code { (describe(condition)) }
                            div { "then:" (step_summary(then, &format!("{pos}.then"), templates)) }
                            div { "else:" (step_summary(otherwise, &format!("{pos}.else"), templates)) }
                        }
                        Step::UpdateContact { set, add_tags, remove_tags } => {
                            "Update contact"
                            @for (k, v) in set { "; set " code { (k) } " = " (value_text(v)) }
                            @if !add_tags.is_empty() { "; add tags " (add_tags.join(", ")) }
                            @if !remove_tags.is_empty() { "; remove tags " (remove_tags.join(", ")) }
                        }
                        Step::Webhook { url, method } => { "Call webhook " (method) " " code { (url) } }
                        Step::AddToList { list } => { "Add to list " code { (list) } }
                        Step::RemoveFromList { list } => { "Remove from list " code { (list) } }
                        Step::Exit => { "Exit" }
                    }
                }
            }
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Enrollments with history and messages; `by_contact` shows the automation instead of
/// the contact.
fn enrollments_table(items: &[Value], by_contact: bool) -> Markup {
    html! {
        @if items.is_empty() {
            p.empty { "No enrollments yet." }
        } @else {
            div.table-wrap { table #enrollments {
                thead { tr {
                    th { @if by_contact { "Automation" } @else { "Contact" } }
                    th { "State" } th { "Position" } th { "Started" } th { "Finished / wakes" } th { "History" } th { "Messages" }
                } }
                tbody {
                    @for e in items {
                        tr {
                            td {
                                @if by_contact {
                                    a href=(format!("/automations/{}", text(e, "automationId"))) { (text(e, "automationName")) }
                                } @else {
                                    a href=(format!("/contacts/{}", text(e, "contactId"))) { @if text(e, "email").is_empty() { "contact" } @else { (text(e, "email")) } }
                                }
                            }
                            td {
                                (state_badge(text(e, "state")))
                                @if let Some(error) = e["error"].as_str() { div.error { (error) } }
                            }
                            td { code { (text(e, "position")) } }
                            td { (text(e, "createdAt")) }
                            td { (e["finishedAt"].as_str().or(e["wakeAt"].as_str()).unwrap_or("—")) }
                            td { (history(e["steps"].as_array().map(Vec::as_slice).unwrap_or_default())) }
                            td {
                                @for m in e["messages"].as_array().map(Vec::as_slice).unwrap_or_default() {
                                    div {
                                        a href=(format!("/outbox/{}", text(m, "id"))) { (text(m, "subject")) }
                                        " " (state_badge(text(m, "status")))
                                        @if let Some(reason) = m["reason"].as_str() { " " span.muted { (reason) } }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}

fn history(steps: &[Value]) -> Markup {
    html! {
        @if steps.is_empty() { span.muted { "—" } } @else {
            details {
                summary { (steps.len()) " step" @if steps.len() != 1 { "s" } }
                ol {
                    @for s in steps {
                        li {
                            code { (text(s, "position")) } " " (text(s, "type")) " → " (text(s, "outcome"))
                            @if !s["detail"].is_null() { " " span.muted { (s["detail"].to_string()) } }
                            " " span.muted { (text(s, "at")) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /automations/{id}`
pub(super) async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "automations")?;
    let ws = user.0.workspace.id;
    type Loaded = (Automation, Counts, Vec<Value>, HashMap<String, String>);
    let loaded = state
        .store
        .read(|conn| -> Result<Option<Loaded>, StoreError> {
            let Some(a) = store::get(conn, ws, &id)? else {
                return Ok(None);
            };
            let counts = store::counts(conn, a.id)?;
            let enrollments = enrollments_json(conn, Listing::Automation(&a, ws))?;
            let templates = crate::templates::store::list(conn, ws)?
                .into_iter()
                .map(|t| (t.uid, t.name))
                .collect();
            Ok(Some((a, counts, enrollments, templates)))
        })?;
    let (a, counts, enrollments, templates) = loaded.ok_or(PageError::NotFound)?;
    let token = &user.0.csrf_token;
    let manager = user.0.role.can_manage();
    let stats = [
        ("active", counts.active),
        ("waiting", counts.waiting),
        ("completed", counts.completed),
        ("exited", counts.exited),
        ("failed", counts.failed),
    ];
    let body = html! {
        p { a href="/automations" { "← All automations" } }
        div.filters {
            (status_badge(a.def.status))
            span { (trigger_label(&a)) }
            @if manager {
                (status_buttons(token, &a.uid, a.def.status, "view"))
                a.button href=(format!("/automations/{}/edit", a.uid)) { "Edit" }
                (danger_button(&format!("/automations/{}/delete", a.uid), &format!("Delete the automation {} and its enrollments?", a.def.name), token, "Delete"))
            }
        }
        div.stats {
            @for (label, n) in stats { div.stat data-state=(label) { span.num { (n) } span.label { (label) } } }
        }
        (inspector(&a.def))
        section.card { h2 { "Steps" } @if a.def.steps.is_empty() { p.empty { "No steps." } } @else { (step_summary(&a.def.steps, "", &templates)) } }
        section.card { h2 { "Enrollments" } p.muted { "The latest 200." } (enrollments_table(&enrollments, false)) }
    };
    Ok(render(&req, Some(&nav), &a.def.name, body))
}

/// `GET /automations/contact/{uid}`: one contact's enrollments.
pub(super) async fn contact_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    uid: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "automations")?;
    let ws = user.0.workspace.id;
    let loaded = state
        .store
        .read(|conn| -> Result<Option<(String, Vec<Value>)>, StoreError> {
            let contact = match crate::contacts::store::get(conn, ws, &uid) {
                Ok(c) => c,
                Err(ContactError::Store(e)) => return Err(e),
                Err(_) => return Ok(None),
            };
            let enrollments = enrollments_json(conn, Listing::Contact(contact.id))?;
            Ok(Some((
                contact
                    .email
                    .clone()
                    .unwrap_or_else(|| contact.display_name()),
                enrollments,
            )))
        })?;
    let (who, enrollments) = loaded.ok_or(PageError::NotFound)?;
    let body = html! {
        p { a href=(format!("/contacts/{uid}")) { "← Contact" } }
        section.card { (enrollments_table(&enrollments, true)) }
    };
    Ok(render(
        &req,
        Some(&nav),
        &format!("Automations for {who}"),
        body,
    ))
}
