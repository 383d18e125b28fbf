//! Contacts as stored: lookups by identity, upsert with change tracking, search, erasure.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value, json};

use super::{Contact, ContactError, ContactPatch, Identity};
use crate::kinds::WorkspaceId;

/// The columns [`from_row`] reads, as a macro so lookups can be `concat!`ed at compile time.
macro_rules! columns {
    () => {
        "id, uid, email, external_id, phone, first_name, last_name, name, properties, tags, subscribed, created_at, updated_at"
    };
}
const COLUMNS: &str = columns!();

/// A unique key a contact is looked up by.
#[derive(Clone, Copy)]
enum Key {
    Uid,
    Email,
    ExternalId,
    Phone,
}

impl Key {
    /// The lookup's SQL, fixed at compile time: ingest runs it for every event.
    fn sql(self) -> &'static str {
        macro_rules! by {
            ($column:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM contacts WHERE workspace_id = ?1 AND ",
                    $column,
                    " = ?2"
                )
            };
        }
        match self {
            Key::Uid => by!("uid"),
            Key::Email => by!("email"),
            Key::ExternalId => by!("external_id"),
            Key::Phone => by!("phone"),
        }
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Contact> {
    let properties: String = r.get(8)?;
    let tags: String = r.get(9)?;
    Ok(Contact {
        id: r.get(0)?,
        uid: r.get(1)?,
        email: r.get(2)?,
        external_id: r.get(3)?,
        phone: r.get(4)?,
        first_name: r.get(5)?,
        last_name: r.get(6)?,
        name: r.get(7)?,
        properties: serde_json::from_str(&properties).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        subscribed: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn find_by(
    conn: &Connection,
    ws: WorkspaceId,
    key: Key,
    value: &str,
) -> Result<Option<Contact>, ContactError> {
    Ok(conn
        .prepare_cached(key.sql())?
        .query_row(params![ws, value], from_row)
        .optional()?)
}

/// Finds a contact by its public id.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Contact, ContactError> {
    find_by(conn, ws, Key::Uid, uid)?.ok_or(ContactError::NotFound)
}

/// Finds a contact by its internal id.
pub fn get_by_id(conn: &Connection, ws: WorkspaceId, id: i64) -> Result<Contact, ContactError> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM contacts WHERE workspace_id = ?1 AND id = ?2"
    );
    conn.prepare_cached(sql)?
        .query_row(params![ws, id], from_row)
        .optional()?
        .ok_or(ContactError::NotFound)
}

/// Finds a contact by lower-cased email.
pub fn find_by_email(
    conn: &Connection,
    ws: WorkspaceId,
    email: &str,
) -> Result<Option<Contact>, ContactError> {
    find_by(conn, ws, Key::Email, email)
}

/// Finds the contact an identity names: external id first, then email, then phone.
pub fn find(
    conn: &Connection,
    ws: WorkspaceId,
    identity: &Identity,
) -> Result<Option<Contact>, ContactError> {
    if let Some(ext) = &identity.external_id
        && let Some(c) = find_by(conn, ws, Key::ExternalId, ext)?
    {
        return Ok(Some(c));
    }
    if let Some(email) = &identity.email
        && let Some(c) = find_by(conn, ws, Key::Email, email)?
    {
        return Ok(Some(c));
    }
    if let Some(phone) = &identity.phone {
        return find_by(conn, ws, Key::Phone, phone);
    }
    Ok(None)
}

/// One changed property: its name, old and new value.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// The `{field: {from, to}}` map recorded with `contact_updated`.
pub fn changes_json(changes: &[Change]) -> Value {
    let map: Map<String, Value> = changes
        .iter()
        .map(|c| (c.field.clone(), json!({"from": c.from, "to": c.to})))
        .collect();
    Value::Object(map)
}

/// Result of an upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub contact: Contact,
    pub created: bool,
    pub changes: Vec<Change>,
}

/// Creates the contact named by `identity` if it does not exist, then applies `patch`.
pub fn upsert(
    conn: &Connection,
    ws: WorkspaceId,
    identity: &Identity,
    patch: &ContactPatch,
) -> Result<Upserted, ContactError> {
    if identity.is_empty() {
        return Err(ContactError::Invalid(
            "A contact needs an email, external id or phone".into(),
        ));
    }
    match find(conn, ws, identity)? {
        Some(existing) => {
            let mut patch = patch.clone();
            // Fill identity fields the contact lacks (or that changed, for external-id matches).
            if let Some(email) = &identity.email
                && existing.email.as_deref() != Some(email)
                && find_by(conn, ws, Key::Email, email)?.is_none()
            {
                patch.email = Some(email.clone());
            }
            if let Some(ext) = &identity.external_id
                && existing.external_id.is_none()
                && find_by(conn, ws, Key::ExternalId, ext)?.is_none()
            {
                patch.external_id = Some(Some(ext.clone()));
            }
            if let Some(phone) = &identity.phone
                && existing.phone.as_deref() != Some(phone)
                && patch.phone.is_none()
            {
                patch.phone = Some(Some(phone.clone()));
            }
            let (contact, changes) = apply(conn, existing, &patch)?;
            Ok(Upserted {
                contact,
                created: false,
                changes,
            })
        }
        None => {
            let contact = insert(conn, ws, identity, patch)?;
            Ok(Upserted {
                contact,
                created: true,
                changes: Vec::new(),
            })
        }
    }
}

/// Inserts a new contact from an identity and initial properties.
pub fn insert(
    conn: &Connection,
    ws: WorkspaceId,
    identity: &Identity,
    patch: &ContactPatch,
) -> Result<Contact, ContactError> {
    let now = crate::store::here().now_ms();
    let pick = |p: &Option<Option<String>>| p.clone().flatten();
    let mut properties = Map::new();
    for (k, v) in &patch.properties {
        if !v.is_null() {
            properties.insert(k.clone(), v.clone());
        }
    }
    let contact = Contact {
        id: 0,
        uid: uuid::Uuid::now_v7().to_string(),
        email: patch.email.clone().or(identity.email.clone()),
        external_id: identity.external_id.clone().or(pick(&patch.external_id)),
        phone: identity.phone.clone().or(pick(&patch.phone)),
        first_name: pick(&patch.first_name),
        last_name: pick(&patch.last_name),
        name: pick(&patch.name),
        properties,
        tags: patch.tags.clone().unwrap_or_default(),
        subscribed: patch.subscribed.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO contacts (uid, workspace_id, email, external_id, phone, first_name, last_name, name, properties, tags, subscribed, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        )?
        .execute(params![
            contact.uid,
            ws,
            contact.email,
            contact.external_id,
            contact.phone,
            contact.first_name,
            contact.last_name,
            contact.name,
            Value::Object(contact.properties.clone()).to_string(),
            json!(contact.tags).to_string(),
            contact.subscribed,
            now
        ]);
    match inserted {
        Ok(_) => Ok(Contact {
            id: conn.last_insert_rowid(),
            ..contact
        }),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(ContactError::Conflict(
                "A contact with that email or external id already exists".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn set_text(
    field: &str,
    slot: &mut Option<String>,
    new: &Option<Option<String>>,
    changes: &mut Vec<Change>,
) {
    if let Some(new) = new
        && slot != new
    {
        changes.push(Change {
            field: field.into(),
            from: json!(slot),
            to: json!(new),
        });
        *slot = new.clone();
    }
}

/// Applies a patch to a stored contact; writes only if something changed.
pub fn apply(
    conn: &Connection,
    mut contact: Contact,
    patch: &ContactPatch,
) -> Result<(Contact, Vec<Change>), ContactError> {
    let mut changes = Vec::new();
    merge_identity(&mut contact, patch, &mut changes);
    merge_properties(&mut contact, patch, &mut changes);
    merge_tags_and_subscription(&mut contact, patch, &mut changes);
    if changes.is_empty() {
        return Ok((contact, changes));
    }
    contact.updated_at = crate::store::here().now_ms();
    save(conn, &contact)?;
    Ok((contact, changes))
}

/// Applies the patch's identity and name fields, noting each change.
fn merge_identity(contact: &mut Contact, patch: &ContactPatch, changes: &mut Vec<Change>) {
    if let Some(email) = &patch.email {
        let mut slot = contact.email.clone();
        set_text("email", &mut slot, &Some(Some(email.clone())), changes);
        contact.email = slot;
    }
    set_text(
        "externalId",
        &mut contact.external_id,
        &patch.external_id,
        changes,
    );
    set_text("phone", &mut contact.phone, &patch.phone, changes);
    set_text(
        "firstName",
        &mut contact.first_name,
        &patch.first_name,
        changes,
    );
    set_text(
        "lastName",
        &mut contact.last_name,
        &patch.last_name,
        changes,
    );
    set_text("name", &mut contact.name, &patch.name, changes);
}

/// Applies the patch's custom properties (null removes one), noting each change.
fn merge_properties(contact: &mut Contact, patch: &ContactPatch, changes: &mut Vec<Change>) {
    for (key, value) in &patch.properties {
        let old = contact.properties.get(key).cloned().unwrap_or(Value::Null);
        if &old != value {
            changes.push(Change {
                field: key.clone(),
                from: old,
                to: value.clone(),
            });
            if value.is_null() {
                contact.properties.remove(key);
            } else {
                contact.properties.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Applies the patch's tags and subscription, noting each change.
fn merge_tags_and_subscription(
    contact: &mut Contact,
    patch: &ContactPatch,
    changes: &mut Vec<Change>,
) {
    if let Some(tags) = &patch.tags
        && &contact.tags != tags
    {
        changes.push(Change {
            field: "tags".into(),
            from: json!(contact.tags),
            to: json!(tags),
        });
        contact.tags = tags.clone();
    }
    if let Some(subscribed) = patch.subscribed
        && subscribed != contact.subscribed
    {
        changes.push(Change {
            field: "subscribed".into(),
            from: json!(contact.subscribed),
            to: json!(subscribed),
        });
        contact.subscribed = subscribed;
    }
}

/// Writes a changed contact back; a taken email or external id is a conflict, not a
/// store failure.
fn save(conn: &Connection, contact: &Contact) -> Result<(), ContactError> {
    let updated = conn
        .prepare_cached(
            "UPDATE contacts SET email = ?2, external_id = ?3, phone = ?4, first_name = ?5, last_name = ?6, name = ?7,
             properties = ?8, tags = ?9, subscribed = ?10, updated_at = ?11 WHERE id = ?1",
        )?
        .execute(params![
            contact.id,
            contact.email,
            contact.external_id,
            contact.phone,
            contact.first_name,
            contact.last_name,
            contact.name,
            Value::Object(contact.properties.clone()).to_string(),
            json!(contact.tags).to_string(),
            contact.subscribed,
            contact.updated_at
        ]);
    match updated {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(ContactError::Conflict(
                "Another contact already has that email or external id".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Substring searches count matches up to this many (then report "at least").
pub const SEARCH_COUNT_CAP: i64 = 1000;

/// One page of contacts, in a stable order (newest first), with the total count.
pub struct Page {
    pub contacts: Vec<Contact>,
    pub total: i64,
    /// The search matched more than [`SEARCH_COUNT_CAP`]; `total` is that cap.
    pub capped: bool,
}

/// Lists contacts, optionally matching `search` against email, name and external id.
pub fn list(
    conn: &Connection,
    ws: WorkspaceId,
    search: &str,
    page: u32,
    limit: u32,
) -> Result<Page, ContactError> {
    let offset = (page.saturating_sub(1) as i64) * limit as i64;
    let search = search.trim();
    if search.chars().any(char::is_control) {
        return Err(ContactError::Invalid(
            "search must not contain control characters".into(),
        ));
    }
    if search.is_empty() {
        return list_all(conn, ws, limit, offset);
    }
    let lowered = search.to_lowercase();
    if lowered.contains('@')
        && offset == 0
        && let Some(contact) = find_by_email(conn, ws, &lowered)?
    {
        // A whole address: the unique index answers at once.
        return Ok(Page {
            contacts: vec![contact],
            total: 1,
            capped: false,
        });
    }
    if search.chars().count() >= 3 {
        return search_substring(conn, ws, &lowered, limit, offset);
    }
    search_prefix(conn, ws, &lowered, limit, offset)
}

/// Every contact of the workspace, newest first, with the exact total.
fn list_all(
    conn: &Connection,
    ws: WorkspaceId,
    limit: u32,
    offset: i64,
) -> Result<Page, ContactError> {
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM contacts WHERE workspace_id = ?1")?
        .query_row([ws], |r| r.get(0))?;
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE workspace_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let contacts = stmt
        .query_map(params![ws, limit, offset], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(Page {
        contacts,
        total,
        capped: false,
    })
}

/// Trigram index: any substring of three or more characters, newest first straight from
/// the index's rowid order so a page never sorts every match; the total is counted up to
/// SEARCH_COUNT_CAP.
fn search_substring(
    conn: &Connection,
    ws: WorkspaceId,
    lowered: &str,
    limit: u32,
    offset: i64,
) -> Result<Page, ContactError> {
    let phrase = format!("\"{}\"", lowered.replace('"', "\"\""));
    let counted: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM contacts_search s JOIN contacts c ON c.id = s.rowid
             WHERE contacts_search MATCH ?2 AND c.workspace_id = ?1 LIMIT ?3)",
        )?
        .query_row(params![ws, phrase, SEARCH_COUNT_CAP + 1], |r| r.get(0))?;
    let sql = format!(
        "SELECT {} FROM contacts_search s JOIN contacts c ON c.id = s.rowid
         WHERE contacts_search MATCH ?2 AND c.workspace_id = ?1 ORDER BY s.rowid DESC LIMIT ?3 OFFSET ?4",
        COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let contacts = stmt
        .query_map(params![ws, phrase, limit, offset], from_row)?
        .collect::<Result<_, _>>()?;
    let capped = counted > SEARCH_COUNT_CAP;
    Ok(Page {
        contacts,
        total: counted.min(SEARCH_COUNT_CAP),
        capped,
    })
}

/// One or two characters: prefix match on the indexed email and external id.
fn search_prefix(
    conn: &Connection,
    ws: WorkspaceId,
    lowered: &str,
    limit: u32,
    offset: i64,
) -> Result<Page, ContactError> {
    let upper = format!("{lowered}\u{10ffff}");
    let filter = "workspace_id = ?1 AND ((email >= ?2 AND email < ?3) OR (external_id >= ?2 AND external_id < ?3))";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM contacts WHERE {filter}"))?
        .query_row(params![ws, lowered, upper], |r| r.get(0))?;
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE {filter} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let contacts = stmt
        .query_map(params![ws, lowered, upper, limit, offset], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(Page {
        contacts,
        total,
        capped: false,
    })
}

/// Streams every contact of the workspace in id order (for export).
pub fn for_each(
    conn: &Connection,
    ws: WorkspaceId,
    after_id: i64,
    limit: u32,
) -> Result<Vec<Contact>, ContactError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![ws, after_id, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// GDPR erasure: the contact, (by cascade) its events, memberships, consents, submissions,
/// its messages and source deliveries; its suppression stays, so it is never mailed again.
pub fn erase(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Contact, ContactError> {
    let contact = get(conn, ws, uid)?;
    conn.prepare_cached(
        "DELETE FROM messages WHERE workspace_id = ?1 AND (contact_id = ?2 OR to_address = ?3)",
    )?
    .execute(params![ws, contact.id, contact.email])?;
    conn.prepare_cached("DELETE FROM contacts WHERE id = ?1")?
        .execute([contact.id])?;
    let gone = serde_json::json!({"contact": {"id": contact.uid, "email": contact.email}});
    crate::webhooks::outbox::emit(conn, ws, "contact.deleted", Default::default(), || gone)?;
    if let Some(email) = &contact.email {
        conn.prepare_cached(
            "DELETE FROM source_deliveries WHERE workspace_id = ?1 AND email = ?2",
        )?
        .execute(params![ws, email])?;
    }
    Ok(contact)
}

/// Number of contacts in the workspace.
pub fn count(conn: &Connection, ws: WorkspaceId) -> Result<i64, ContactError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM contacts WHERE workspace_id = ?1")?
        .query_row([ws], |r| r.get(0))?)
}

/// The workspace of the contact with this uid, in any workspace (for signed links that
/// carry only the uid).
pub fn workspace_of(conn: &Connection, uid: &str) -> Result<Option<WorkspaceId>, ContactError> {
    Ok(conn
        .prepare_cached("SELECT workspace_id FROM contacts WHERE uid = ?1")?
        .query_row([uid], |r| r.get(0))
        .optional()?)
}
