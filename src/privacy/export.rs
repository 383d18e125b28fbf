//! The personal-data export of one contact: its properties, lists and their history,
//! consents, form submissions, events, messages and automation enrollments, each read by the feature that
//! owns it.

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::automations::listing::{Listing, enrollments_json};
use crate::contacts::{ContactError, store as contacts};
use crate::delivery::messages;
use crate::events::log::{self, Filter};
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::lists::{ListError, consent, store as lists};
use crate::store::StoreError;

/// Events read per page while gathering.
const EVENT_PAGE: u32 = log::MAX_LIMIT;

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Contact(#[from] ContactError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Form(#[from] crate::forms::FormError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything held about the contact with this public id in the workspace.
pub fn personal_data(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Value, ExportError> {
    let contact = contacts::get(conn, ws, uid)?;
    let memberships: Vec<Value> = lists::memberships_of(conn, ws, contact.id)?
        .iter()
        .map(|m| {
            json!({
                "listId": m.list.uid,
                "listName": m.list.name,
                "status": m.status.as_str(),
                "source": m.source,
                "changedAt": iso_time(m.changed_at),
            })
        })
        .collect();
    let history: Vec<Value> = lists::changes_of(conn, ws, contact.id)?
        .iter()
        .map(|c| {
            json!({
                "listId": c.list_uid,
                "listName": c.list_name,
                "status": c.status,
                "source": c.source,
                "at": iso_time(c.at),
            })
        })
        .collect();
    let messages: Vec<Value> =
        messages::of_contact(conn, ws, contact.id, contact.email.as_deref())?
            .iter()
            .map(|m| {
                let mut json = m.to_json();
                json["html"] = json!(m.html);
                json["text"] = json!(m.text);
                json
            })
            .collect();
    Ok(json!({
        "exportedAt": iso_time(crate::store::here().now_ms()),
        "contact": contact.to_json(),
        "lists": memberships,
        "listHistory": history,
        "consents": consent::of_contact(conn, ws, contact.id)?,
        "formSubmissions": crate::forms::store::submissions_of(conn, ws, contact.id)?,
        "events": events_of(conn, ws, contact.id)?,
        "messages": messages,
        "enrollments": enrollments_json(conn, Listing::Contact(contact.id))?,
    }))
}

/// All of the contact's events, newest first, read page by page.
fn events_of(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<Value>, StoreError> {
    let mut all = Vec::new();
    let mut filter = Filter {
        contact_id: Some(contact_id),
        limit: EVENT_PAGE,
        ..Filter::default()
    };
    loop {
        let page = log::query(conn, ws, &filter)?;
        all.extend(page.events.iter().map(|e| e.to_json()));
        let Some(last) = page.events.last().filter(|_| page.next_cursor.is_some()) else {
            return Ok(all);
        };
        filter.cursor = Some((last.created_at, last.id));
    }
}
