//! The one ingest path every event takes, whatever door it came in by: upsert the contact,
//! record `contact_added` / `contact_updated`, store the event, and offer each occurrence
//! to the automation engine, all inside the caller's write transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Map, Value};

use super::occurrence::{Occurrence, Outcome, Scope, react};
use crate::contacts::store::{self as contacts, Change, changes_json};
use crate::contacts::{Contact, ContactError, ContactJson, ContactPatch, Identity};
use crate::kinds::WorkspaceId;

/// Name of the occurrence recorded when a contact is created.
pub const CONTACT_ADDED: &str = "contact_added";
/// Name of the occurrence recorded when a contact's properties change.
pub const CONTACT_UPDATED: &str = "contact_updated";

/// Writes a general (no channel) webhook event stemming from event row `event_id` to the
/// outbox, if anyone listens. The payload is built only when someone listens.
fn emit<P: Serialize>(
    conn: &Connection,
    ws: WorkspaceId,
    event_id: i64,
    event: &str,
    payload: impl FnOnce() -> P,
) -> Result<(), ContactError> {
    let about = crate::webhooks::outbox::About::event(event_id);
    Ok(crate::webhooks::outbox::emit(
        conn, ws, event, about, payload,
    )?)
}

/// The `contact.*` webhook payloads: the contact, with what changed and why when known.
#[derive(Serialize)]
struct ContactPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a Value>,
    contact: ContactJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
}

/// The `event.received` payload.
#[derive(Serialize)]
struct ReceivedPayload<'a> {
    contact: ContactJson<'a>,
    event: ReceivedEvent<'a>,
}

#[derive(Serialize)]
struct ReceivedEvent<'a> {
    id: i64,
    name: &'a str,
    properties: &'a Map<String, Value>,
    source: &'a str,
}

/// Where an event came from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `api`, `webhook`, `form`, `ui` or `system`.
    pub kind: &'static str,
    /// Extra detail shown in the log: ip, user agent, source name, type.
    pub detail: Option<Value>,
    /// The tracking record this event belongs to, if any.
    pub trigger_id: Option<i64>,
}

/// An event ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub name: String,
    pub properties: Map<String, Value>,
    pub origin: Origin,
}

/// What ingest did.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub contact: Contact,
    pub contact_created: bool,
    pub event_id: i64,
    pub automations: Outcome,
}

/// Stores an event row and remembers its name.
pub fn insert_event(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
    name: &str,
    properties: &Map<String, Value>,
    origin: &Origin,
) -> Result<i64, ContactError> {
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO events (workspace_id, contact_id, name, properties, source, source_detail, trigger_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ws,
        contact_id,
        name,
        serde_json::to_string(properties).map_err(|e| ContactError::Invalid(e.to_string()))?,
        origin.kind,
        origin.detail.as_ref().map(|d| d.to_string()),
        origin.trigger_id,
        now
    ])?;
    let id = conn.last_insert_rowid();
    note_event_name(conn, ws, name, now)?;
    Ok(id)
}

/// Names already known to be in `event_names`, per workspace, as of a rollback count.
type SeenNames = (u64, HashMap<WorkspaceId, HashSet<String>>);

/// Remembers the event name for the pattern list, skipping the write for names this
/// process already stored (rows there are never deleted; a rollback clears the memory).
fn note_event_name(
    conn: &Connection,
    ws: WorkspaceId,
    name: &str,
    now: i64,
) -> Result<(), ContactError> {
    let here = crate::store::here();
    let seen = here.cache::<Mutex<SeenNames>>();
    let generation = here.freshness().rollbacks();
    {
        let seen = seen.lock().expect("event name memory");
        if seen.0 == generation && seen.1.get(&ws).is_some_and(|names| names.contains(name)) {
            return Ok(());
        }
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO event_names (workspace_id, name, first_seen_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![ws, name, now])?;
    let mut seen = seen.lock().expect("event name memory");
    if seen.0 != generation {
        *seen = (generation, HashMap::new());
    }
    let names = seen.1.entry(ws).or_default();
    if names.len() < 10_000 {
        names.insert(name.to_string());
    }
    Ok(())
}

/// Records `contact_added` or `contact_updated` and offers it to automations.
pub fn record_contact_change(
    conn: &Connection,
    ws: WorkspaceId,
    contact: &Contact,
    created: bool,
    changes: &[Change],
    origin: &Origin,
) -> Result<Outcome, ContactError> {
    let system = Origin {
        kind: "system",
        detail: Some(Value::String(origin.kind.into())),
        trigger_id: origin.trigger_id,
    };
    let empty = Map::new();
    if created {
        let added = insert_event(conn, ws, contact.id, CONTACT_ADDED, &empty, &system)?;
        emit(conn, ws, added, "contact.created", || ContactPayload {
            changes: None,
            contact: contact.as_json(),
            source: None,
        })?;
        let scope = Scope {
            event: &empty,
            variables: &empty,
            trigger_id: origin.trigger_id,
            from_automation: false,
        };
        return Ok(react(conn, ws, contact, Occurrence::ContactAdded, &scope)?);
    }
    if changes.is_empty() {
        return Ok(Outcome::default());
    }
    let mut properties = Map::new();
    properties.insert("changes".into(), changes_json(changes));
    let updated = insert_event(conn, ws, contact.id, CONTACT_UPDATED, &properties, &system)?;
    emit(conn, ws, updated, "contact.updated", || ContactPayload {
        changes: properties.get("changes"),
        contact: contact.as_json(),
        source: None,
    })?;
    if !contact.subscribed && changes.iter().any(|c| c.field == "subscribed") {
        emit(conn, ws, updated, "contact.unsubscribed", || {
            ContactPayload {
                changes: None,
                contact: contact.as_json(),
                source: Some(origin.kind),
            }
        })?;
    }
    let scope = Scope {
        event: &properties,
        variables: &empty,
        trigger_id: origin.trigger_id,
        from_automation: origin.kind == "automation",
    };
    Ok(react(
        conn,
        ws,
        contact,
        Occurrence::ContactUpdated,
        &scope,
    )?)
}

/// Upserts the contact, stores the event, runs automations. Call inside a write.
pub fn ingest(
    conn: &Connection,
    ws: WorkspaceId,
    identity: &Identity,
    patch: &ContactPatch,
    event: &NewEvent,
) -> Result<Ingested, ContactError> {
    ingest_with_variables(conn, ws, identity, patch, event, &Map::new())
}

/// [`ingest`] with template variables for the enrollments it starts (v1 API).
pub fn ingest_with_variables(
    conn: &Connection,
    ws: WorkspaceId,
    identity: &Identity,
    patch: &ContactPatch,
    event: &NewEvent,
    variables: &Map<String, Value>,
) -> Result<Ingested, ContactError> {
    let upserted = contacts::upsert(conn, ws, identity, patch)?;
    let mut outcome = record_contact_change(
        conn,
        ws,
        &upserted.contact,
        upserted.created,
        &upserted.changes,
        &event.origin,
    )?;
    let event_id = insert_event(
        conn,
        ws,
        upserted.contact.id,
        &event.name,
        &event.properties,
        &event.origin,
    )?;
    emit(conn, ws, event_id, "event.received", || ReceivedPayload {
        contact: upserted.contact.as_json(),
        event: ReceivedEvent {
            id: event_id,
            name: &event.name,
            properties: &event.properties,
            source: event.origin.kind,
        },
    })?;
    let scope = Scope {
        event: &event.properties,
        variables,
        trigger_id: event.origin.trigger_id,
        from_automation: false,
    };
    outcome += react(
        conn,
        ws,
        &upserted.contact,
        Occurrence::Event {
            name: &event.name,
            event_id,
        },
        &scope,
    )?;
    Ok(Ingested {
        contact: upserted.contact,
        contact_created: upserted.created,
        event_id,
        automations: outcome,
    })
}
