//! `GET /automations`: every automation with its status and enrollment counts.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::{status_badge, status_buttons};
use crate::automations::definition::TriggerType;
use crate::automations::store::{self, Automation, Counts};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::store::StoreError;
use crate::ui::{PageError, format_time, render};

/// How a trigger reads in a list.
pub(super) fn trigger_label(a: &Automation) -> String {
    let t = &a.def.trigger;
    match (t.kind, t.key()) {
        (TriggerType::Event, Some(e)) => format!("Event received: {e}"),
        (TriggerType::Event, None) => "Event received".into(),
        (TriggerType::ContactAdded, _) => "Contact added".into(),
        (TriggerType::ContactUpdated, _) => "Contact updated".into(),
        (TriggerType::ListJoined, list) => format!("Contact joined list {}", list.unwrap_or("")),
    }
}

pub(super) async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "automations")?;
    let ws = user.0.workspace.id;
    let rows = state
        .store
        .read(|conn| -> Result<Vec<(Automation, Counts)>, StoreError> {
            store::list(conn, ws)?
                .into_iter()
                .map(|a| {
                    let counts = store::counts(conn, a.id)?;
                    Ok((a, counts))
                })
                .collect()
        })?;
    let token = &user.0.csrf_token;
    let manager = user.0.role.can_manage();
    let body = html! {
        @if manager { p { a.button href="/automations/new" { "New automation" } } }
        @if rows.is_empty() {
            p.empty { "No automations yet. An automation enrolls contacts when something happens (an event, a new contact) and runs its steps: emails, waits, branches, updates, webhooks." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Name" } th { "Status" } th { "Trigger" }
                    th { "Active" } th { "Waiting" } th { "Completed" } th { "Exited" } th { "Failed" }
                    th { "Updated" } th {}
                } }
                tbody {
                    @for (a, c) in &rows {
                        tr {
                            td { a href=(format!("/automations/{}", a.uid)) { (a.def.name) } }
                            td { (status_badge(a.def.status)) }
                            td { (trigger_label(a)) }
                            td data-state="active" { (c.active) }
                            td data-state="waiting" { (c.waiting) }
                            td data-state="completed" { (c.completed) }
                            td data-state="exited" { (c.exited) }
                            td data-state="failed" { @if c.failed > 0 { span.badge.bad { (c.failed) } } @else { (c.failed) } }
                            td { (format_time(a.updated_at)) }
                            td {
                                @if manager {
                                    (status_buttons(token, &a.uid, a.def.status, "list"))
                                    " "
                                    a href=(format!("/automations/{}/edit", a.uid)) { "Edit" }
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(render(&req, Some(&nav), "Automations", body))
}
