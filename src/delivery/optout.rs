//! Opting out: the domain step behind the one-click unsubscribe link.

use rusqlite::Connection;

use crate::contacts::{ContactError, ContactPatch, store as contacts};
use crate::events::ingest::{Origin, record_contact_change};

/// Marks the contact unsubscribed (recording `contact_updated`) and suppresses marketing.
/// Answers false when no contact has this uid.
pub fn unsubscribe_contact(conn: &Connection, uid: &str) -> Result<bool, ContactError> {
    let Some(ws) = contacts::workspace_of(conn, uid)? else {
        return Ok(false);
    };
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
