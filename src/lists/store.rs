//! Lists and memberships as stored. Every membership change writes its history row in
//! the same statement pair, so a state is never without the record of how it came about.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Counts, List, ListError, MemberStatus, OptIn, Source};
use crate::kinds::WorkspaceId;

const COLUMNS: &str = "id, uid, name, description, opt_in, public, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<List> {
    let opt_in: String = r.get(4)?;
    Ok(List {
        id: r.get(0)?,
        uid: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        opt_in: OptIn::parse(&opt_in).unwrap_or(OptIn::Single),
        public: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// The editable parts of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListInput {
    pub name: String,
    pub description: String,
    pub opt_in: OptIn,
    pub public: bool,
}

impl ListInput {
    /// Checks lengths; the name is trimmed.
    pub fn validate(mut self) -> Result<Self, ListError> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(ListError::invalid("name", "must be 1 to 200 characters"));
        }
        if self.description.chars().count() > 2000 {
            return Err(ListError::invalid(
                "description",
                "must be at most 2000 characters",
            ));
        }
        Ok(self)
    }
}

fn name_taken(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Creates a list; a name already used in the workspace is a conflict.
pub fn create(conn: &Connection, ws: WorkspaceId, input: &ListInput) -> Result<List, ListError> {
    let now = crate::store::here().now_ms();
    let uid = uuid::Uuid::now_v7().to_string();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO lists (uid, workspace_id, name, description, opt_in, public, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )?
        .execute(params![
            uid,
            ws,
            input.name,
            input.description,
            input.opt_in.as_str(),
            input.public,
            now
        ]);
    match inserted {
        Err(e) if name_taken(&e) => Err(ListError::Conflict(format!(
            "A list named '{}' already exists",
            input.name
        ))),
        Err(e) => Err(e.into()),
        Ok(_) => {
            ensure_confirmation_template(conn, ws, input.opt_in)?;
            get(conn, ws, &uid)?.ok_or(ListError::NotFound)
        }
    }
}

/// A double opt-in list needs its confirmation email: it is created with the list, so it
/// can be edited before the first signup.
fn ensure_confirmation_template(
    conn: &Connection,
    ws: WorkspaceId,
    opt_in: OptIn,
) -> Result<(), ListError> {
    if opt_in == OptIn::Double {
        let default = super::subscribe::default_confirmation_template();
        crate::templates::store::for_purpose(conn, ws, "confirmation", &default)?;
    }
    Ok(())
}

/// Replaces a list's editable parts.
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    input: &ListInput,
) -> Result<List, ListError> {
    let now = crate::store::here().now_ms();
    let updated = conn
        .prepare_cached(
            "UPDATE lists SET name = ?3, description = ?4, opt_in = ?5, public = ?6, updated_at = ?7
             WHERE workspace_id = ?1 AND uid = ?2",
        )?
        .execute(params![
            ws,
            uid,
            input.name,
            input.description,
            input.opt_in.as_str(),
            input.public,
            now
        ]);
    match updated {
        Err(e) if name_taken(&e) => Err(ListError::Conflict(format!(
            "A list named '{}' already exists",
            input.name
        ))),
        Err(e) => Err(e.into()),
        Ok(0) => Err(ListError::NotFound),
        Ok(_) => {
            ensure_confirmation_template(conn, ws, input.opt_in)?;
            get(conn, ws, uid)?.ok_or(ListError::NotFound)
        }
    }
}

/// Deletes a list with its memberships; answers how many members it had.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Counts, ListError> {
    let list = get(conn, ws, uid)?.ok_or(ListError::NotFound)?;
    let had = counts(conn, list.id)?;
    conn.prepare_cached("DELETE FROM lists WHERE id = ?1")?
        .execute([list.id])?;
    Ok(had)
}

/// The list with this public id in the workspace.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Option<List>, ListError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM lists WHERE workspace_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// Every list of the workspace, by name.
pub fn all(conn: &Connection, ws: WorkspaceId) -> Result<Vec<List>, ListError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM lists WHERE workspace_id = ?1 ORDER BY name COLLATE NOCASE"
    ))?;
    let rows = stmt.query_map([ws], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Looks up lists named by public id in a request; an unknown one (or one of another
/// workspace) is an error naming `field[i]`. Duplicates are dropped.
pub fn resolve(
    conn: &Connection,
    ws: WorkspaceId,
    uids: &[String],
    field: &str,
) -> Result<Vec<List>, ListError> {
    let mut lists: Vec<List> = Vec::with_capacity(uids.len());
    for (i, uid) in uids.iter().enumerate() {
        let list = get(conn, ws, uid.trim())?.ok_or_else(|| {
            ListError::invalid(format!("{field}[{i}]"), format!("names no list: '{uid}'"))
        })?;
        if !lists.iter().any(|l| l.id == list.id) {
            lists.push(list);
        }
    }
    Ok(lists)
}

/// Members of one list by state.
pub fn counts(conn: &Connection, list_id: i64) -> Result<Counts, ListError> {
    let mut counts = Counts::default();
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM list_members WHERE list_id = ?1 GROUP BY status",
    )?;
    let rows = stmt.query_map([list_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (status, n) = row?;
        match MemberStatus::parse(&status) {
            Some(MemberStatus::Unconfirmed) => counts.unconfirmed = n,
            Some(MemberStatus::Confirmed) => counts.confirmed = n,
            Some(MemberStatus::Unsubscribed) => counts.unsubscribed = n,
            None => {}
        }
    }
    Ok(counts)
}

/// A contact's membership of one list: its state and when it last changed.
pub fn membership(
    conn: &Connection,
    list_id: i64,
    contact_id: i64,
) -> Result<Option<(MemberStatus, i64)>, ListError> {
    let row: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT status, changed_at FROM list_members WHERE list_id = ?1 AND contact_id = ?2",
        )?
        .query_row(params![list_id, contact_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(s, at)| MemberStatus::parse(&s).map(|s| (s, at))))
}

/// Puts the contact's membership of `list` in `status`, recording the change; answers the
/// state it had before (`None`: not a member). Setting the state it already has records
/// nothing.
pub fn set_status(
    conn: &Connection,
    ws: WorkspaceId,
    list: &List,
    contact_id: i64,
    status: MemberStatus,
    source: Source,
) -> Result<Option<MemberStatus>, ListError> {
    let before = membership(conn, list.id, contact_id)?.map(|(s, _)| s);
    if before == Some(status) {
        return Ok(before);
    }
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO list_members (list_id, contact_id, status, source, created_at, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (list_id, contact_id) DO UPDATE SET status = ?3, source = ?4, changed_at = ?5",
    )?
    .execute(params![
        list.id,
        contact_id,
        status.as_str(),
        source.as_str(),
        now
    ])?;
    conn.prepare_cached(
        "INSERT INTO list_member_changes (workspace_id, list_id, contact_id, status, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![ws, list.id, contact_id, status.as_str(), source.as_str(), now])?;
    Ok(before)
}

/// What taking a contact off a list did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Yes,
    /// The contact was no member.
    NotMember,
    /// The contact unsubscribed from the list itself: that choice is kept, so a later
    /// "add" cannot sign it up again.
    KeptUnsubscribed,
}

/// Removes a membership without a trace of its state (the list's API "remove member");
/// the removal itself is recorded in the history. An `unsubscribed` membership stays.
pub fn remove(
    conn: &Connection,
    ws: WorkspaceId,
    list: &List,
    contact_id: i64,
    source: Source,
) -> Result<Removed, ListError> {
    match membership(conn, list.id, contact_id)? {
        None => return Ok(Removed::NotMember),
        Some((MemberStatus::Unsubscribed, _)) => return Ok(Removed::KeptUnsubscribed),
        Some(_) => {}
    }
    conn.prepare_cached("DELETE FROM list_members WHERE list_id = ?1 AND contact_id = ?2")?
        .execute(params![list.id, contact_id])?;
    conn.prepare_cached(
        "INSERT INTO list_member_changes (workspace_id, list_id, contact_id, status, source, created_at)
         VALUES (?1, ?2, ?3, 'removed', ?4, ?5)",
    )?
    .execute(params![ws, list.id, contact_id, source.as_str(), crate::store::here().now_ms()])?;
    Ok(Removed::Yes)
}

/// One of a contact's memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub list: List,
    pub status: MemberStatus,
    pub source: String,
    pub changed_at: i64,
}

/// Every membership of a contact, by list name.
pub fn memberships_of(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<Membership>, ListError> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.id, l.uid, l.name, l.description, l.opt_in, l.public, l.created_at, l.updated_at,
                m.status, m.source, m.changed_at
         FROM list_members m JOIN lists l ON l.id = m.list_id
         WHERE m.contact_id = ?1 AND l.workspace_id = ?2
         ORDER BY l.name COLLATE NOCASE",
    )?;
    let rows = stmt.query_map(params![contact_id, ws], |r| {
        let status: String = r.get(8)?;
        Ok(Membership {
            list: from_row(r)?,
            status: MemberStatus::parse(&status).unwrap_or(MemberStatus::Unsubscribed),
            source: r.get(9)?,
            changed_at: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One recorded change of a contact's membership.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub list_uid: String,
    pub list_name: String,
    /// A [`MemberStatus`] spelling, or `removed`.
    pub status: String,
    pub source: String,
    pub at: i64,
}

/// The history of a contact's memberships, oldest first.
pub fn changes_of(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<Change>, ListError> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.uid, l.name, c.status, c.source, c.created_at
         FROM list_member_changes c JOIN lists l ON l.id = c.list_id
         WHERE c.contact_id = ?1 AND c.workspace_id = ?2 ORDER BY c.id",
    )?;
    let rows = stmt.query_map(params![contact_id, ws], |r| {
        Ok(Change {
            list_uid: r.get(0)?,
            list_name: r.get(1)?,
            status: r.get(2)?,
            source: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A list's member as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub contact_id: i64,
    pub contact_uid: String,
    pub email: Option<String>,
    pub status: MemberStatus,
    pub source: String,
    pub changed_at: i64,
}

/// A page of a list's members in contact order after `after` (a contact row id), at most
/// `limit`, optionally of one state.
pub fn members(
    conn: &Connection,
    list_id: i64,
    status: Option<MemberStatus>,
    after: i64,
    limit: u32,
) -> Result<Vec<Member>, ListError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.contact_id, c.uid, c.email, m.status, m.source, m.changed_at
         FROM list_members m JOIN contacts c ON c.id = m.contact_id
         WHERE m.list_id = ?1 AND (?2 IS NULL OR m.status = ?2) AND m.contact_id > ?3
         ORDER BY m.contact_id LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![list_id, status.map(MemberStatus::as_str), after, limit],
        |r| {
            let status: String = r.get(3)?;
            Ok(Member {
                contact_id: r.get(0)?,
                contact_uid: r.get(1)?,
                email: r.get(2)?,
                status: MemberStatus::parse(&status).unwrap_or(MemberStatus::Unsubscribed),
                source: r.get(4)?,
                changed_at: r.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Lists whose membership of this contact waits for confirmation.
pub fn awaiting_confirmation(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<List>, ListError> {
    Ok(memberships_of(conn, ws, contact_id)?
        .into_iter()
        .filter(|m| m.status == MemberStatus::Unconfirmed)
        .map(|m| m.list)
        .collect())
}

/// Whether the contact is a confirmed member of the list with this public id, in the
/// contact's own workspace (automation filters ask this).
pub fn confirmed_member(
    conn: &Connection,
    list_uid: &str,
    contact_id: i64,
) -> Result<bool, ListError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM list_members m JOIN lists l ON l.id = m.list_id
              WHERE l.uid = ?1 AND m.contact_id = ?2 AND m.status = 'confirmed'
                AND l.workspace_id = (SELECT workspace_id FROM contacts WHERE id = ?2))",
        )?
        .query_row(params![list_uid, contact_id], |r| r.get(0))?)
}
