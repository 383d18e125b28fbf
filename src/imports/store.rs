//! The `contact_imports` rows: one per import, carrying its file, mapping, progress and
//! the first errors.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::mapping::Column;
use crate::contacts::ContactError;
use crate::jobs::{self, JobKind};
use crate::kinds::WorkspaceId;

/// Errors kept per import; later ones are only counted in `failed`.
pub const MAX_ERRORS: usize = 1000;

/// What the `mapping` column holds: the columns, and the line number of the record at
/// `byte_offset` so errors name real file lines even across multi-line cells.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub columns: Vec<Column>,
    pub next_line: u64,
}

/// One reported problem; `line` is absent for a failure of the whole import.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorEntry {
    pub line: Option<u64>,
    pub message: String,
}

/// An import as stored.
#[derive(Debug, Clone)]
pub struct Import {
    pub id: i64,
    pub uid: String,
    pub workspace_id: WorkspaceId,
    pub filename: String,
    pub path: String,
    pub plan: Plan,
    pub status: String,
    pub bytes_total: i64,
    pub byte_offset: i64,
    pub rows_done: i64,
    pub created: i64,
    pub updated: i64,
    pub failed: i64,
    pub errors: Vec<ErrorEntry>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl Import {
    /// Whether the import still has work ahead of it.
    pub fn active(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "running")
    }

    /// Share of the file processed, 0 to 100.
    pub fn percent(&self) -> u32 {
        if self.status == "completed" || self.bytes_total <= 0 {
            return if self.status == "completed" { 100 } else { 0 };
        }
        ((self.byte_offset.max(0) as f64 / self.bytes_total as f64) * 100.0).min(100.0) as u32
    }
}

const COLUMNS: &str = "id, uid, workspace_id, filename, path, mapping, status, bytes_total, byte_offset, rows_done, created, updated, failed, errors, created_at, finished_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Import> {
    let mapping: String = r.get(5)?;
    let errors: String = r.get(13)?;
    Ok(Import {
        id: r.get(0)?,
        uid: r.get(1)?,
        workspace_id: r.get(2)?,
        filename: r.get(3)?,
        path: r.get(4)?,
        plan: serde_json::from_str(&mapping).unwrap_or(Plan {
            columns: Vec::new(),
            next_line: 1,
        }),
        status: r.get(6)?,
        bytes_total: r.get(7)?,
        byte_offset: r.get(8)?,
        rows_done: r.get(9)?,
        created: r.get(10)?,
        updated: r.get(11)?,
        failed: r.get(12)?,
        errors: serde_json::from_str(&errors).unwrap_or_default(),
        created_at: r.get(14)?,
        finished_at: r.get(15)?,
    })
}

/// What a new import starts from.
pub struct NewImport {
    pub uid: String,
    pub filename: String,
    pub path: String,
    pub bytes_total: i64,
    pub start_offset: i64,
    pub plan: Plan,
}

/// Creates the import row and its first chunk job, in the caller's transaction.
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    new: &NewImport,
    max_attempts: u32,
) -> Result<Import, ContactError> {
    conn.prepare_cached(
        "INSERT INTO contact_imports (uid, workspace_id, filename, path, mapping, status, bytes_total, byte_offset, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8)",
    )?
    .execute(params![
        new.uid,
        ws,
        new.filename,
        new.path,
        serde_json::to_string(&new.plan).expect("plans serialize"),
        new.bytes_total,
        new.start_offset,
        crate::store::here().now_ms()
    ])?;
    let id = conn.last_insert_rowid();
    jobs::enqueue(
        conn,
        Some(ws),
        &JobKind::ImportContacts { import_id: id },
        crate::store::here().now_ms(),
        max_attempts,
    )?;
    by_id(conn, id)?.ok_or_else(|| ContactError::Missing("Import not found".into()))
}

/// An import of the workspace by its public id.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Import, ContactError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM contact_imports WHERE workspace_id = ?1 AND uid = ?2"
    ))?
    .query_row(params![ws, uid], from_row)
    .optional()?
    .ok_or_else(|| ContactError::Missing("Import not found".into()))
}

/// An import by internal id (for the job that runs it).
pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Import>, ContactError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM contact_imports WHERE id = ?1"
        ))?
        .query_row([id], from_row)
        .optional()?)
}

/// The workspace's latest imports, newest first.
pub fn recent(conn: &Connection, ws: WorkspaceId, limit: u32) -> Result<Vec<Import>, ContactError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM contact_imports WHERE workspace_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![ws, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Saves the progress of a processed chunk (counters, offset, next line, errors).
pub fn save_progress(
    conn: &Connection,
    import: &Import,
    finished: bool,
) -> Result<(), ContactError> {
    let status = if finished { "completed" } else { "running" };
    conn.prepare_cached(
        "UPDATE contact_imports SET status = ?2, byte_offset = ?3, rows_done = ?4, created = ?5, updated = ?6,
         failed = ?7, errors = ?8, mapping = ?9, finished_at = ?10 WHERE id = ?1",
    )?
    .execute(params![
        import.id,
        status,
        import.byte_offset,
        import.rows_done,
        import.created,
        import.updated,
        import.failed,
        serde_json::to_string(&import.errors).expect("errors serialize"),
        serde_json::to_string(&import.plan).expect("plans serialize"),
        finished.then(|| crate::store::here().now_ms())
    ])?;
    Ok(())
}

/// Marks an unfinished import failed with a reason; returns its file path if it changed.
pub fn fail(conn: &Connection, id: i64, reason: &str) -> Result<Option<String>, ContactError> {
    let Some(mut import) = by_id(conn, id)? else {
        return Ok(None);
    };
    if !import.active() {
        return Ok(None);
    }
    if import.errors.len() < MAX_ERRORS {
        import.errors.push(ErrorEntry {
            line: None,
            message: format!("Import stopped: {reason}"),
        });
    }
    conn.prepare_cached(
        "UPDATE contact_imports SET status = 'failed', errors = ?2, finished_at = ?3 WHERE id = ?1",
    )?
    .execute(params![
        id,
        serde_json::to_string(&import.errors).expect("errors serialize"),
        crate::store::here().now_ms()
    ])?;
    Ok(Some(import.path))
}
