//! One-click unsubscribe (RFC 8058): a signed link per contact; a POST unsubscribes at
//! once without a login, a GET shows a confirmation page with the same button.

use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use maud::html;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::Sha256;

use crate::auth::secrets::constant_time_eq;
use crate::contacts::{ContactError, ContactPatch, store as contacts};
use crate::events::ingest::{Origin, record_contact_change};
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::kinds::time::now_ms;
use crate::store::StoreError;
use crate::ui::{PageError, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/unsubscribe/{token}", Access::Token, confirm_page)
        .post("/unsubscribe/{token}", Access::Token, unsubscribe);
}

/// Loads the installation's signing secret, creating it on first start.
pub fn load_secret(conn: &Connection) -> Result<Vec<u8>, StoreError> {
    let existing: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM instance_secrets WHERE name = 'links'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(secret) = existing {
        return Ok(secret);
    }
    let secret: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    conn.execute(
        "INSERT INTO instance_secrets (name, value, created_at) VALUES ('links', ?1, ?2)",
        params![secret, now_ms()],
    )?;
    Ok(secret)
}

fn signature(secret: &[u8], contact_uid: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(b"unsubscribe:");
    mac.update(contact_uid.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

static LINKS: std::sync::OnceLock<(String, Vec<u8>)> = std::sync::OnceLock::new();

/// Sets the public origin and secret used to build links outside request handlers
/// (the step runner renders templates inside the writer). Called once at start.
pub fn init_links(base_url: String, secret: Vec<u8>) {
    let _ = LINKS.set((base_url, secret));
}

/// The unsubscribe URL for a contact.
pub fn url(contact_uid: &str) -> String {
    let (base, secret) = LINKS
        .get()
        .map(|(b, s)| (b.as_str(), s.as_slice()))
        .unwrap_or(("", &[]));
    format!(
        "{base}/unsubscribe/{contact_uid}.{}",
        signature(secret, contact_uid)
    )
}

fn verify(state: &AppState, token: &str) -> Option<String> {
    let (uid, sig) = token.split_once('.')?;
    let expected = signature(&state.link_secret, uid);
    constant_time_eq(expected.as_bytes(), sig.as_bytes()).then(|| uid.to_string())
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
