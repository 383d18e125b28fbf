//! Telling webhook endpoints about enrollments: `automation.enrolled`, `.exited` and
//! `.completed`, each only when some endpoint of the workspace listens (the payload costs
//! reads).

use rusqlite::Connection;
use serde_json::json;

use super::store::{self, Automation};
use crate::contacts::Contact;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;
use crate::webhooks::outbox;

/// What happened to an enrollment, for its webhook event.
pub struct News<'a> {
    pub event: &'static str,
    pub enrollment_id: i64,
    pub reason: Option<&'a str>,
}

/// Emits the event for an enrollment whose automation and contact are at hand.
pub fn tell(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    automation: &Automation,
    news: &News<'_>,
) -> Result<(), StoreError> {
    if !outbox::wants(conn, ws, news.event, None)? {
        return Ok(());
    }
    let mut payload = json!({
        "contact": contact.to_json(),
        "automation": {"id": automation.uid, "name": automation.def.name},
        "enrollmentId": news.enrollment_id,
    });
    if let Some(reason) = news.reason {
        payload["reason"] = json!(reason);
    }
    outbox::emit(
        conn,
        ws,
        news.event,
        outbox::About::contact(contact.id),
        || payload,
    )
}

/// Emits the event for an enrollment known by ids only (exits by event).
pub fn tell_by_id(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    automation_id: i64,
    news: &News<'_>,
) -> Result<(), StoreError> {
    if !outbox::wants(conn, ws, news.event, None)? {
        return Ok(());
    }
    let Some(automation) = store::get_by_id(conn, automation_id)? else {
        return Ok(());
    };
    tell(conn, ws, contact, &automation, news)
}
