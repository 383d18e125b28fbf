//! `GET /lists/contact/{uid}`: one contact's lists, the history of its memberships and
//! the consents it gave, as the contact page links to them.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;

use crate::contacts::{ContactError, store as contacts};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::lists::store::{self as lists, Change, Membership};
use crate::lists::{ListError, consent};
use crate::ui::{PageError, format_time, render};

/// What the page shows.
struct Audience {
    who: String,
    memberships: Vec<Membership>,
    history: Vec<Change>,
    consents: Vec<Value>,
}

/// The page; 404 for a contact of another workspace.
pub(super) async fn contact_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    uid: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "lists")?;
    let ws = user.0.workspace.id;
    let uid = uid.into_inner();
    let found = {
        let uid = uid.clone();
        state
            .store
            .read_async(move |conn| -> Result<Option<Audience>, ListError> {
                let contact = match contacts::get(conn, ws, &uid) {
                    Ok(c) => c,
                    Err(ContactError::NotFound) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                Ok(Some(Audience {
                    who: contact
                        .email
                        .clone()
                        .unwrap_or_else(|| contact.display_name()),
                    memberships: lists::memberships_of(conn, ws, contact.id)?,
                    history: lists::changes_of(conn, ws, contact.id)?,
                    consents: consent::of_contact(conn, ws, contact.id)?,
                }))
            })
            .await?
    };
    let audience = found.ok_or(PageError::NotFound)?;
    let body = html! {
        p { a href=(format!("/contacts/{uid}")) { "← Contact" } }
        (memberships_card(&audience.memberships))
        (history_card(&audience.history))
        (consents_card(&audience.consents))
    };
    Ok(render(
        &req,
        Some(&nav),
        &format!("Lists and consent of {}", audience.who),
        body,
    ))
}

fn memberships_card(memberships: &[Membership]) -> Markup {
    html! {
        section.card {
            h2 { "Lists" }
            @if memberships.is_empty() {
                p.empty { "Not on any list." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "List" } th { "Status" } th { "Since" } th { "Source" } } }
                    tbody { @for m in memberships {
                        tr {
                            td { a href=(format!("/lists/{}", m.list.uid)) { (m.list.name) } }
                            td { (m.status.as_str()) }
                            td { (format_time(m.changed_at)) }
                            td { (m.source) }
                        }
                    } }
                } }
            }
        }
    }
}

fn history_card(history: &[Change]) -> Markup {
    html! {
        section.card {
            h2 { "Membership history" }
            @if history.is_empty() {
                p.empty { "No changes recorded." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Time" } th { "List" } th { "Became" } th { "Source" } } }
                    tbody { @for c in history.iter().rev() {
                        tr {
                            td { (format_time(c.at)) }
                            td { (c.list_name) }
                            td { (c.status) }
                            td { (c.source) }
                        }
                    } }
                } }
            }
        }
    }
}

fn consents_card(consents: &[Value]) -> Markup {
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or("—").to_string();
    html! {
        section.card {
            h2 { "Consents" }
            @if consents.is_empty() {
                p.empty { "No consent recorded." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Time" } th { "Text shown" } th { "Version" } th { "Source" } th { "IP" } th { "Browser" } } }
                    tbody { @for c in consents.iter().rev() {
                        tr {
                            td { (text(c, "createdAt")) }
                            td { (text(c, "text")) }
                            td { (text(c, "version")) }
                            td { (text(c, "source")) }
                            td { (text(c, "ip")) }
                            td { (text(c, "userAgent")) }
                        }
                    } }
                } }
            }
        }
    }
}
