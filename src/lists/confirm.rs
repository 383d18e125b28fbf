//! Ending a double opt-in, and leaving lists: what the confirmation link, the preferences
//! page and the list steps of automations do to memberships.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::store as lists;
use super::subscribe::announce_joined;
use super::{List, ListError, MemberStatus, Source};
use crate::contacts::store as contacts;
use crate::contacts::{Contact, ContactPatch};
use crate::events::ingest::{Origin, insert_event, record_contact_change};
use crate::kinds::WorkspaceId;

/// The event recorded when a contact leaves a list.
pub const LIST_LEFT: &str = "list_left";

/// What a used confirmation link did.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub workspace: WorkspaceId,
    pub contact: Contact,
    /// Lists confirmed now; empty when everything was confirmed already.
    pub lists: Vec<List>,
}

/// Confirms every membership of the contact that waits for it, and subscribes the
/// contact: the address has proved it wants the mail. `None` when the contact is gone.
pub fn confirm(conn: &Connection, contact_uid: &str) -> Result<Option<Confirmed>, ListError> {
    let Some(ws) = contacts::workspace_of(conn, contact_uid)? else {
        return Ok(None);
    };
    let contact = contacts::get(conn, ws, contact_uid)?;
    let waiting = lists::awaiting_confirmation(conn, ws, contact.id)?;
    if waiting.is_empty() {
        return Ok(Some(Confirmed {
            workspace: ws,
            contact,
            lists: Vec::new(),
        }));
    }
    for list in &waiting {
        lists::set_status(
            conn,
            ws,
            list,
            contact.id,
            MemberStatus::Confirmed,
            Source::Link,
        )?;
    }
    let contact = resubscribe(conn, ws, contact, "link")?;
    for list in &waiting {
        announce_joined(conn, ws, &contact, list, Source::Link)?;
    }
    Ok(Some(Confirmed {
        workspace: ws,
        contact,
        lists: waiting,
    }))
}

/// Marks the contact subscribed (recording `contact_updated` when it was not).
pub fn resubscribe(
    conn: &Connection,
    ws: WorkspaceId,
    contact: Contact,
    origin: &'static str,
) -> Result<Contact, ListError> {
    if contact.subscribed {
        return Ok(contact);
    }
    let patch = ContactPatch {
        subscribed: Some(true),
        ..ContactPatch::default()
    };
    let (contact, changes) = contacts::apply(conn, contact, &patch)?;
    let origin = Origin {
        kind: origin,
        detail: None,
        trigger_id: None,
    };
    record_contact_change(conn, ws, &contact, false, &changes, &origin)?;
    Ok(contact)
}

/// What joining a list by someone else's hand did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The contact is a confirmed member now and was not before.
    Now,
    /// The contact was a confirmed member already.
    Already,
    /// The contact left this list itself; only its own signup or preferences page brings
    /// it back, so nothing changed.
    OptedOut,
}

/// Joins a list directly, confirmed (the UI, the lists API, an automation step): the
/// person running it vouches for the consent. A contact that unsubscribed from the list
/// stays unsubscribed unless the source is the contact's own link (the preferences page):
/// no one else may undo that choice.
pub fn add_confirmed(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    list: &List,
    source: Source,
) -> Result<Joined, ListError> {
    let current = lists::membership(conn, list.id, contact.id)?.map(|(s, _)| s);
    match current {
        Some(MemberStatus::Confirmed) => return Ok(Joined::Already),
        Some(MemberStatus::Unsubscribed) if source != Source::Link => return Ok(Joined::OptedOut),
        _ => {}
    }
    lists::set_status(conn, ws, list, contact.id, MemberStatus::Confirmed, source)?;
    announce_joined(conn, ws, contact, list, source)?;
    Ok(Joined::Now)
}

/// Leaves a list: the membership stays, `unsubscribed`, so the choice is remembered.
/// Answers whether the contact was subscribed to it before.
pub fn leave(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    list: &List,
    source: Source,
) -> Result<bool, ListError> {
    let Some((status, _)) = lists::membership(conn, list.id, contact.id)? else {
        return Ok(false);
    };
    if status == MemberStatus::Unsubscribed {
        return Ok(false);
    }
    lists::set_status(
        conn,
        ws,
        list,
        contact.id,
        MemberStatus::Unsubscribed,
        source,
    )?;
    let mut properties = Map::new();
    properties.insert("listId".into(), json!(list.uid));
    properties.insert("listName".into(), json!(list.name));
    let origin = Origin {
        kind: "system",
        detail: Some(Value::String(source.as_str().into())),
        trigger_id: None,
    };
    insert_event(conn, ws, contact.id, LIST_LEFT, &properties, &origin)?;
    crate::webhooks::outbox::emit(
        conn,
        ws,
        "list.left",
        crate::webhooks::outbox::About::contact(contact.id),
        || json!({"contact": contact.to_json(), "list": {"id": list.uid, "name": list.name}, "source": source.as_str()}),
    )?;
    Ok(true)
}
