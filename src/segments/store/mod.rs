//! Segments as stored, and the queries that select their contacts. A saved filter is
//! checked again against the workspace each time it is used, so a field removed or a
//! list deleted since it was saved makes it [`SegmentError::Broken`] instead of silently
//! selecting something else.

pub mod compile;
pub mod listing;

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use super::check::{Catalog, Cond, check};
use super::filter::{self, Filter};
use super::{Segment, SegmentError};
use crate::contacts::Contact;
use crate::kinds::WorkspaceId;
use compile::{Mode, Sql, compile};

const COLUMNS: &str = "id, uid, name, filter, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Segment> {
    let text: String = r.get(3)?;
    let filter = serde_json::from_str::<Value>(&text)
        .map_err(|e| e.to_string())
        .and_then(|v| filter::parse(&v, "filter").map_err(|e| e.to_string()))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
        })?;
    Ok(Segment {
        id: r.get(0)?,
        uid: r.get(1)?,
        name: r.get(2)?,
        filter,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

/// What a filter may name in the workspace: its declared fields and lists.
pub fn catalog(conn: &Connection, ws: WorkspaceId) -> Result<Catalog, SegmentError> {
    Ok(Catalog {
        fields: crate::contacts::fields::list(conn, ws)?,
        lists: crate::lists::store::all(conn, ws)?,
    })
}

/// Parses a filter sent by a caller and checks it against the workspace; errors name
/// the path below `filter`.
pub fn parse_filter(
    conn: &Connection,
    ws: WorkspaceId,
    value: &Value,
) -> Result<(Filter, Cond), SegmentError> {
    let parsed = filter::parse(value, "filter")?;
    let cond = check(&parsed, "filter", &catalog(conn, ws)?)?;
    Ok((parsed, cond))
}

/// A saved filter resolved against the workspace as it is now.
pub fn resolve(conn: &Connection, ws: WorkspaceId, filter: &Filter) -> Result<Cond, SegmentError> {
    check(filter, "filter", &catalog(conn, ws)?).map_err(SegmentError::Broken)
}

fn conflict_or(e: rusqlite::Error, name: &str) -> SegmentError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            SegmentError::Conflict(format!("A segment named '{name}' already exists"))
        }
        _ => e.into(),
    }
}

/// Saves a new segment; the filter must check against the workspace.
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    name: &str,
    filter: &Filter,
) -> Result<Segment, SegmentError> {
    let name = super::check_name(name)?;
    check(filter, "filter", &catalog(conn, ws)?)?;
    let now = crate::store::here().now_ms();
    let uid = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached(
        "INSERT INTO segments (uid, workspace_id, name, filter, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![uid, ws, name, filter.to_json().to_string(), now])
    .map_err(|e| conflict_or(e, &name))?;
    get(conn, ws, &uid)?.ok_or(SegmentError::NotFound)
}

/// Changes a segment's name and / or filter; the filter must check against the workspace.
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    name: Option<&str>,
    filter: Option<&Filter>,
) -> Result<Segment, SegmentError> {
    let existing = get(conn, ws, uid)?.ok_or(SegmentError::NotFound)?;
    let name = match name {
        Some(n) => super::check_name(n)?,
        None => existing.name,
    };
    let filter = filter.cloned().unwrap_or(existing.filter);
    check(&filter, "filter", &catalog(conn, ws)?)?;
    conn.prepare_cached(
        "UPDATE segments SET name = ?3, filter = ?4, updated_at = ?5 WHERE workspace_id = ?1 AND uid = ?2",
    )?
    .execute(params![
        ws,
        uid,
        name,
        filter.to_json().to_string(),
        crate::store::here().now_ms()
    ])
    .map_err(|e| conflict_or(e, &name))?;
    get(conn, ws, uid)?.ok_or(SegmentError::NotFound)
}

/// Deletes a segment; answers what it was.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Segment, SegmentError> {
    let segment = get(conn, ws, uid)?.ok_or(SegmentError::NotFound)?;
    conn.prepare_cached("DELETE FROM segments WHERE id = ?1")?
        .execute([segment.id])?;
    Ok(segment)
}

/// The segment with this public id in the workspace.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Option<Segment>, SegmentError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM segments WHERE workspace_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// Every segment of the workspace, by name.
pub fn all(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Segment>, SegmentError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM segments WHERE workspace_id = ?1 ORDER BY name COLLATE NOCASE"
    ))?;
    let rows = stmt.query_map([ws], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The compiled filter for a whole-workspace query; the clock is the store's.
fn set_sql(ws: WorkspaceId, cond: &Cond) -> Sql {
    compile(cond, ws, crate::store::here().now_ms(), Mode::Set)
}

/// How many of the workspace's contacts the filter selects.
pub fn count(conn: &Connection, ws: WorkspaceId, cond: &Cond) -> Result<i64, SegmentError> {
    let sql = set_sql(ws, cond);
    let text = format!(
        "SELECT COUNT(*) FROM contacts c WHERE c.workspace_id = ? AND {}",
        sql.text
    );
    let mut values = vec![rusqlite::types::Value::from(ws.0)];
    values.extend(sql.params);
    Ok(conn
        .prepare_cached(&text)?
        .query_row(params_from_iter(values), |r| r.get(0))?)
}

/// A page of the selected contacts in row order after contact row id `after`, at most
/// `limit`: keyset paging, so a deep page costs what the first one does.
pub fn members(
    conn: &Connection,
    ws: WorkspaceId,
    cond: &Cond,
    after: i64,
    limit: u32,
) -> Result<Vec<Contact>, SegmentError> {
    let sql = set_sql(ws, cond);
    let text = format!(
        "SELECT c.id FROM contacts c WHERE c.workspace_id = ? AND c.id > ? AND {} ORDER BY c.id LIMIT ?",
        sql.text
    );
    let mut values = vec![
        rusqlite::types::Value::from(ws.0),
        rusqlite::types::Value::from(after),
    ];
    values.extend(sql.params);
    values.push(rusqlite::types::Value::from(i64::from(limit)));
    let mut stmt = conn.prepare_cached(&text)?;
    let ids = stmt
        .query_map(params_from_iter(values), |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    contacts_by_id(conn, ws, &ids)
}

/// The contacts with these row ids, in that order: the filter queries select ids, and
/// the contacts store reads its own rows.
pub fn contacts_by_id(
    conn: &Connection,
    ws: WorkspaceId,
    ids: &[i64],
) -> Result<Vec<Contact>, SegmentError> {
    Ok(ids
        .iter()
        .map(|id| crate::contacts::store::get_by_id(conn, ws, *id))
        .collect::<Result<_, _>>()?)
}

/// Whether the contact (row id) of workspace `ws` is selected by `filter`, resolved
/// against the workspace now: what automation conditions ask about the enrolled contact.
pub fn matches(
    conn: &Connection,
    ws: WorkspaceId,
    filter: &Filter,
    contact_id: i64,
) -> Result<bool, SegmentError> {
    let cond = resolve(conn, ws, filter)?;
    let sql = compile(&cond, ws, crate::store::here().now_ms(), Mode::One);
    let text = format!(
        "SELECT EXISTS (SELECT 1 FROM contacts c WHERE c.id = ? AND c.workspace_id = ? AND {})",
        sql.text
    );
    let mut values = vec![
        rusqlite::types::Value::from(contact_id),
        rusqlite::types::Value::from(ws.0),
    ];
    values.extend(sql.params);
    Ok(conn
        .prepare_cached(&text)?
        .query_row(params_from_iter(values), |r| r.get(0))?)
}

/// Whether the contact (row id) is in the saved segment with this public id, looked up
/// in the contact's own workspace; a segment that does not exist there selects no one.
pub fn contact_in_segment(
    conn: &Connection,
    segment_uid: &str,
    contact_id: i64,
) -> Result<bool, SegmentError> {
    let found: Option<WorkspaceId> = conn
        .prepare_cached(
            "SELECT s.workspace_id FROM segments s JOIN contacts c ON c.workspace_id = s.workspace_id
             WHERE s.uid = ?1 AND c.id = ?2",
        )?
        .query_row(params![segment_uid, contact_id], |r| r.get(0))
        .optional()?;
    let Some(ws) = found else {
        return Ok(false);
    };
    match get(conn, ws, segment_uid)? {
        Some(segment) => matches(conn, ws, &segment.filter, contact_id),
        None => Ok(false),
    }
}
