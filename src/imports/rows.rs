//! Storing the rows of one chunk inside the chunk's write.
//!
//! New contacts are gathered in memory and inserted with ONE statement per chunk: the
//! contacts table feeds a full-text index through triggers, and SQLite opens a statement
//! journal (and flushes the FTS index) for every statement that fires them, which made a
//! row-at-a-time insert several times slower. Rows for contacts that already exist are
//! applied one by one through `store::apply`, exactly like an API update.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde_json::{Value, json};

use super::parse::{ImportRow, RowError};
use super::store::{ErrorEntry, Import, MAX_ERRORS};
use crate::contacts::store as contacts;
use crate::contacts::{Contact, ContactError, ContactPatch, Identity, normalize_tags};
use crate::events::ingest::{Origin, record_contact_change};
use crate::kinds::WorkspaceId;

const ORIGIN: Origin = Origin {
    kind: "import",
    detail: None,
    trigger_id: None,
};

/// Contacts created by this chunk, not yet inserted.
struct Fresh {
    contacts: Vec<Contact>,
    by_email: HashMap<String, usize>,
    external_ids: HashSet<String>,
}

/// Applies every row, counting into `import`; only store failures are returned (they
/// abort the chunk so it is retried). Rows are taken in file order, so a later row for
/// the same email wins.
pub fn apply(
    conn: &Connection,
    ws: WorkspaceId,
    rows: Vec<Result<ImportRow, RowError>>,
    import: &mut Import,
) -> Result<(), ContactError> {
    let now = crate::store::here().now_ms();
    let mut fresh = Fresh {
        contacts: Vec::new(),
        by_email: HashMap::new(),
        external_ids: HashSet::new(),
    };
    for row in rows {
        import.rows_done += 1;
        let (line, outcome) = match row {
            Err(e) => (e.line, Err(ContactError::Invalid(e.message))),
            Ok(row) => (row.line, one_row(conn, ws, row, &mut fresh, now)),
        };
        match outcome {
            Ok(true) => import.created += 1,
            Ok(false) => import.updated += 1,
            Err(ContactError::Store(e)) => return Err(e.into()),
            Err(e) => {
                import.failed += 1;
                if import.errors.len() < MAX_ERRORS {
                    import.errors.push(ErrorEntry {
                        line: Some(line),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    insert_all(conn, ws, &mut fresh.contacts)?;
    for contact in &fresh.contacts {
        record_contact_change(conn, ws, contact, true, &[], &ORIGIN)?;
    }
    Ok(())
}

/// One row: merged into a contact created earlier in the chunk, applied to a stored
/// contact, or gathered as a new one. Returns whether it created a contact.
fn one_row(
    conn: &Connection,
    ws: WorkspaceId,
    row: ImportRow,
    fresh: &mut Fresh,
    now: i64,
) -> Result<bool, ContactError> {
    let ImportRow {
        email, mut patch, ..
    } = row;
    let wanted_ext = patch.external_id.clone().flatten();
    if let Some(&i) = fresh.by_email.get(&email) {
        let current = fresh.contacts[i].external_id.clone();
        if let Some(ext) = wanted_ext.as_ref().filter(|e| current.as_ref() != Some(*e)) {
            claim_external_id(conn, ws, ext, fresh)?;
        }
        merge(&mut fresh.contacts[i], patch)?;
        return Ok(false);
    }
    match contacts::find_by_email(conn, ws, &email)? {
        Some(existing) => {
            if let Some(ext) = &wanted_ext
                && fresh.external_ids.contains(ext)
            {
                return Err(taken(ext));
            }
            // Imported tags are added to the contact's own, not put in their place.
            if let Some(tags) = patch.tags.take() {
                let mut merged = existing.tags.clone();
                merged.extend(tags);
                patch.tags = Some(normalize_tags(&merged)?);
            }
            let (contact, changes) = contacts::apply(conn, existing, &patch)?;
            record_contact_change(conn, ws, &contact, false, &changes, &ORIGIN)?;
            Ok(false)
        }
        None => {
            if let Some(ext) = &wanted_ext {
                claim_external_id(conn, ws, ext, fresh)?;
            }
            let mut contact = Contact {
                id: 0,
                uid: uuid::Uuid::now_v7().to_string(),
                email: Some(email.clone()),
                external_id: None,
                phone: None,
                first_name: None,
                last_name: None,
                name: None,
                properties: serde_json::Map::new(),
                tags: Vec::new(),
                subscribed: true,
                created_at: now,
                updated_at: now,
            };
            merge(&mut contact, patch)?;
            fresh.by_email.insert(email, fresh.contacts.len());
            fresh.contacts.push(contact);
            Ok(true)
        }
    }
}

fn taken(ext: &str) -> ContactError {
    ContactError::Conflict(format!(
        "Another contact already has the external id '{ext}'"
    ))
}

/// Reserves an external id for a new contact, refusing one already in use.
fn claim_external_id(
    conn: &Connection,
    ws: WorkspaceId,
    ext: &str,
    fresh: &mut Fresh,
) -> Result<(), ContactError> {
    let identity = Identity {
        external_id: Some(ext.to_string()),
        ..Identity::default()
    };
    if fresh.external_ids.contains(ext) || contacts::find(conn, ws, &identity)?.is_some() {
        return Err(taken(ext));
    }
    fresh.external_ids.insert(ext.to_string());
    Ok(())
}

/// Applies a row's patch to a contact held in memory (an import only sets values).
fn merge(contact: &mut Contact, patch: ContactPatch) -> Result<(), ContactError> {
    for (slot, value) in [
        (&mut contact.first_name, patch.first_name),
        (&mut contact.last_name, patch.last_name),
        (&mut contact.name, patch.name),
        (&mut contact.phone, patch.phone),
        (&mut contact.external_id, patch.external_id),
    ] {
        if let Some(value) = value {
            *slot = value;
        }
    }
    for (key, value) in patch.properties {
        if value.is_null() {
            contact.properties.remove(&key);
        } else {
            contact.properties.insert(key, value);
        }
    }
    if let Some(tags) = patch.tags {
        let mut merged = std::mem::take(&mut contact.tags);
        merged.extend(tags);
        contact.tags = normalize_tags(&merged)?;
    }
    if let Some(subscribed) = patch.subscribed {
        contact.subscribed = subscribed;
    }
    Ok(())
}

/// Inserts the chunk's new contacts with one statement and fills in their ids.
fn insert_all(
    conn: &Connection,
    ws: WorkspaceId,
    fresh: &mut [Contact],
) -> Result<(), ContactError> {
    if fresh.is_empty() {
        return Ok(());
    }
    let payload = Value::Array(
        fresh
            .iter()
            .map(|c| {
                json!({
                    "uid": c.uid, "email": c.email, "externalId": c.external_id, "phone": c.phone,
                    "firstName": c.first_name, "lastName": c.last_name, "name": c.name,
                    "properties": c.properties, "tags": c.tags, "subscribed": c.subscribed,
                    "createdAt": c.created_at,
                })
            })
            .collect(),
    )
    .to_string();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO contacts (uid, workspace_id, email, external_id, phone, first_name, last_name, name,
                               properties, tags, subscribed, created_at, updated_at)
         SELECT value->>'uid', ?1, value->>'email', value->>'externalId', value->>'phone', value->>'firstName',
                value->>'lastName', value->>'name', value->'properties', value->'tags', value->>'subscribed',
                value->>'createdAt', value->>'createdAt'
         FROM json_each(?2)
         RETURNING id, uid",
    )?;
    let index: HashMap<&str, usize> = fresh
        .iter()
        .enumerate()
        .map(|(i, c)| (c.uid.as_str(), i))
        .collect();
    let ids: Vec<(i64, String)> = stmt
        .query_map(rusqlite::params![ws, payload], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let positions: Vec<(usize, i64)> = ids
        .into_iter()
        .filter_map(|(id, uid)| index.get(uid.as_str()).map(|&i| (i, id)))
        .collect();
    for (i, id) in positions {
        fresh[i].id = id;
    }
    Ok(())
}
