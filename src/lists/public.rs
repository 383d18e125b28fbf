//! The pages a contact reaches from an email, without signing in: the double opt-in
//! confirmation (`/confirm/{token}`) and the preferences page (`/preferences/{token}`).
//! Both links are signed; a GET only shows a button and the POST acts, so a mail
//! scanner that follows links confirms or unsubscribes nobody.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::confirm::{self, add_confirmed, leave};
use super::store::{self as lists, Membership};
use super::{List, ListError, MemberStatus, Source};
use crate::auth::accounts::find_workspace;
use crate::contacts::{Contact, store as contacts};
use crate::delivery::optout::unsubscribe_contact;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::ui::{PageError, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/confirm/{token}", Access::Token, confirm_page)
        .post("/confirm/{token}", Access::Token, confirm_now)
        .get("/preferences/{token}", Access::Token, preferences_page)
        .post("/preferences/{token}", Access::Token, save_preferences);
}

impl From<ListError> for PageError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Invalid { field, message } => {
                PageError::BadRequest(format!("{field} {message}"))
            }
            ListError::NotFound => PageError::NotFound,
            ListError::Conflict(m) => PageError::BadRequest(m),
            ListError::Contact(crate::contacts::ContactError::NotFound) => PageError::NotFound,
            ListError::Contact(e) => PageError::BadRequest(e.to_string()),
            ListError::Store(e) => e.into(),
        }
    }
}

fn gone(what: &str) -> PageError {
    PageError::Gone(format!(
        "This {what} link is not valid any more (or the address was removed)."
    ))
}

/// The contact a confirmation token names, if the token is genuine and unexpired.
fn confirming(state: &AppState, token: &str) -> Result<String, PageError> {
    let (uid, expires) = state
        .links
        .verify_confirm(token)
        .ok_or_else(|| gone("confirmation"))?;
    if state.clock().now_ms() > expires {
        return Err(PageError::Gone(
            "This confirmation link has expired. Sign up again to get a new one.".into(),
        ));
    }
    Ok(uid)
}

/// The workspace's name, shown on public pages so the person knows who is asking.
fn sender_name(conn: &rusqlite::Connection, ws: WorkspaceId) -> Result<String, ListError> {
    Ok(find_workspace(conn, ws)
        .map_err(|_| ListError::NotFound)?
        .map(|w| w.name)
        .unwrap_or_default())
}

async fn confirm_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let uid = confirming(&state, &token)?;
    let found = state.store.read(|conn| -> Result<_, ListError> {
        let Some(ws) = contacts::workspace_of(conn, &uid)? else {
            return Ok(None);
        };
        let contact = contacts::get(conn, ws, &uid)?;
        let waiting = lists::awaiting_confirmation(conn, ws, contact.id)?;
        Ok(Some((sender_name(conn, ws)?, contact, waiting)))
    })?;
    let (sender, contact, waiting) = found.ok_or_else(|| gone("confirmation"))?;
    let body = html! {
        section.card.narrow {
            h2 { (sender) }
            @if waiting.is_empty() {
                p { "Your subscription is already confirmed. Thank you!" }
            } @else {
                p { "Confirm that " strong { (contact.email.clone().unwrap_or_default()) } " wants to receive email from " (sender) ":" }
                (list_names(&waiting))
                form method="post" {
                    button type="submit" { "Yes, subscribe me" }
                }
                p.muted { "If you did not sign up, close this page: nothing happens unless you confirm." }
            }
        }
    };
    Ok(render(&req, None, "Confirm your subscription", body))
}

fn list_names(lists: &[List]) -> Markup {
    html! {
        ul { @for list in lists.iter().filter(|l| l.public) { li { (list.name) } } }
    }
}

async fn confirm_now(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let uid = confirming(&state, &token)?;
    let done = state
        .store
        .write(move |conn| -> Result<_, ListError> {
            let Some(done) = confirm::confirm(conn, &uid)? else {
                return Ok(None);
            };
            Ok(Some((sender_name(conn, done.workspace)?, done)))
        })
        .await?;
    let (sender, done) = done.ok_or_else(|| gone("confirmation"))?;
    let body = html! {
        section.card.narrow {
            h2 { (sender) }
            @if done.lists.is_empty() {
                p { "Your subscription is already confirmed. Thank you!" }
            } @else {
                p { "Thank you: your subscription is confirmed." }
                (list_names(&done.lists))
            }
        }
    };
    Ok(render(&req, None, "Subscription confirmed", body))
}

/// What the preferences page shows: the contact, and each public list with its state.
struct Preferences {
    sender: String,
    contact: Contact,
    lists: Vec<(List, Option<MemberStatus>)>,
}

fn preferences(
    conn: &rusqlite::Connection,
    uid: &str,
) -> Result<Option<(WorkspaceId, Preferences)>, ListError> {
    let Some(ws) = contacts::workspace_of(conn, uid)? else {
        return Ok(None);
    };
    let contact = contacts::get(conn, ws, uid)?;
    let memberships: Vec<Membership> = lists::memberships_of(conn, ws, contact.id)?;
    let lists = lists::all(conn, ws)?
        .into_iter()
        .filter(|l| l.public)
        .map(|l| {
            let status = memberships
                .iter()
                .find(|m| m.list.id == l.id)
                .map(|m| m.status);
            (l, status)
        })
        .collect();
    let sender = sender_name(conn, ws)?;
    Ok(Some((
        ws,
        Preferences {
            sender,
            contact,
            lists,
        },
    )))
}

fn preferences_uid(state: &AppState, token: &str) -> Result<String, PageError> {
    state
        .links
        .verify_preferences(token)
        .ok_or_else(|| gone("preferences"))
}

async fn preferences_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let uid = preferences_uid(&state, &token)?;
    let (_, prefs) = state
        .store
        .read(|conn| preferences(conn, &uid))?
        .ok_or_else(|| gone("preferences"))?;
    Ok(render(
        &req,
        None,
        "Email preferences",
        preferences_body(&prefs, None),
    ))
}

fn preferences_body(prefs: &Preferences, saved: Option<&str>) -> Markup {
    let email = prefs.contact.email.clone().unwrap_or_default();
    html! {
        section.card.narrow {
            h2 { (prefs.sender) }
            p { "Email preferences for " strong { (email) } }
            @if let Some(saved) = saved { p.notice { (saved) } }
            @if !prefs.contact.subscribed {
                p { "You are unsubscribed from all email from " (prefs.sender) "." }
                form method="post" {
                    input type="hidden" name="action" value="resubscribe";
                    button type="submit" { "Subscribe me again" }
                }
            } @else {
                form method="post" {
                    input type="hidden" name="action" value="save";
                    @if prefs.lists.is_empty() {
                        p.muted { "There are no lists to choose from." }
                    }
                    @for (list, status) in &prefs.lists {
                        label.check {
                            input type="checkbox" name="list" value=(list.uid)
                                checked[matches!(status, Some(MemberStatus::Confirmed | MemberStatus::Unconfirmed))];
                            " " strong { (list.name) }
                            @if !list.description.is_empty() { br; span.muted { (list.description) } }
                        }
                    }
                    @if !prefs.lists.is_empty() { button type="submit" { "Save my choices" } }
                }
                form method="post" {
                    input type="hidden" name="action" value="unsubscribe_all";
                    button.danger type="submit" { "Unsubscribe from everything" }
                }
            }
        }
    }
}

async fn save_preferences(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let uid = preferences_uid(&state, &token)?;
    let form = form.into_inner();
    let action = form
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let chosen: Vec<String> = form
        .into_iter()
        .filter(|(k, _)| k == "list")
        .map(|(_, v)| v)
        .collect();
    let saved = state
        .store
        .write(move |conn| -> Result<_, ListError> {
            let Some((ws, prefs)) = preferences(conn, &uid)? else {
                return Ok(None);
            };
            let note = apply_choice(conn, ws, &prefs, &action, &chosen)?;
            Ok(preferences(conn, &uid)?.map(|(_, p)| (p, note)))
        })
        .await?;
    let (prefs, note) = saved.ok_or_else(|| gone("preferences"))?;
    Ok(render(
        &req,
        None,
        "Email preferences",
        preferences_body(&prefs, Some(note)),
    ))
}

/// Carries out what the person chose on the preferences page.
fn apply_choice(
    conn: &rusqlite::Connection,
    ws: WorkspaceId,
    prefs: &Preferences,
    action: &str,
    chosen: &[String],
) -> Result<&'static str, ListError> {
    let contact = &prefs.contact;
    match action {
        "unsubscribe_all" => {
            unsubscribe_contact(conn, &contact.uid)?;
            Ok("You are unsubscribed from everything.")
        }
        "resubscribe" => {
            confirm::resubscribe(conn, ws, contact.clone(), "preferences")?;
            Ok("You are subscribed again.")
        }
        "save" => {
            for (list, status) in &prefs.lists {
                let wanted = chosen.contains(&list.uid);
                let member = matches!(
                    status,
                    Some(MemberStatus::Confirmed | MemberStatus::Unconfirmed)
                );
                if wanted && status != &Some(MemberStatus::Confirmed) {
                    add_confirmed(conn, ws, contact, list, Source::Link)?;
                } else if !wanted && member {
                    leave(conn, ws, contact, list, Source::Link)?;
                }
            }
            Ok("Your choices are saved.")
        }
        _ => Err(ListError::invalid("action", "is not one this page offers")),
    }
}
