//! One-click unsubscribe (RFC 8058): a signed link per contact; a POST unsubscribes at
//! once without a login, a GET shows a confirmation page with the same button.

use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use rusqlite::{Connection, OptionalExtension};

use crate::contacts::{ContactError, ContactPatch, store as contacts};
use crate::events::ingest::{Origin, record_contact_change};
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::ui::{PageError, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/unsubscribe/{token}", Access::Token, confirm_page)
        .post("/unsubscribe/{token}", Access::Token, unsubscribe);
}

fn verify(state: &AppState, token: &str) -> Option<String> {
    state.links.verify_unsubscribe(token)
}

fn invalid() -> PageError {
    PageError::Gone("This unsubscribe link is not valid (or the contact no longer exists).".into())
}

async fn confirm_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    verify(&state, &token).ok_or_else(invalid)?;
    let body = html! {
        section.card.narrow {
            p { "Stop receiving these emails?" }
            form method="post" {
                button type="submit" { "Unsubscribe" }
            }
        }
    };
    Ok(render(&req, None, "Unsubscribe", body))
}

/// Marks the contact unsubscribed (recording `contact_updated`) and suppresses marketing.
pub fn unsubscribe_contact(conn: &Connection, uid: &str) -> Result<bool, ContactError> {
    let ws: Option<WorkspaceId> = conn
        .prepare_cached("SELECT workspace_id FROM contacts WHERE uid = ?1")?
        .query_row([uid], |r| r.get(0))
        .optional()?;
    let Some(ws) = ws else { return Ok(false) };
    let contact = contacts::get(conn, ws, uid)?;
    let patch = ContactPatch {
        subscribed: Some(false),
        ..ContactPatch::default()
    };
    let (contact, changes) = contacts::apply(conn, contact, &patch)?;
    let origin = Origin {
        kind: "unsubscribe",
        detail: None,
        trigger_id: None,
    };
    record_contact_change(conn, ws, &contact, false, &changes, &origin)?;
    Ok(true)
}

async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let uid = verify(&state, &token).ok_or_else(invalid)?;
    let found = state
        .store
        .write(move |conn| unsubscribe_contact(conn, &uid))
        .await?;
    if !found {
        return Err(invalid());
    }
    let body = html! { section.card.narrow { p { "You are unsubscribed. You will not receive these emails any more." } } };
    Ok(render(&req, None, "Unsubscribed", body))
}
