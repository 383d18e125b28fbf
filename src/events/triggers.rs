//! Trigger rows written by the synchronous v1 endpoints: one per call, created
//! `processing` and completed once the call has run.

use rusqlite::{Connection, params};

use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// Inserts a trigger of `kind` (`event` or `workflow`) for `name`, created and started
/// now in state `processing`; returns its row id and its new uid.
pub fn insert_processing(
    conn: &Connection,
    ws: WorkspaceId,
    kind: &str,
    name: &str,
) -> Result<(i64, String), StoreError> {
    let uid = uuid::Uuid::now_v7().to_string();
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO triggers (uid, workspace_id, kind, event_name, status, created_at, started_at) VALUES (?1, ?2, ?3, ?4, 'processing', ?5, ?5)",
    )?
    .execute(params![uid, ws, kind, name, now])?;
    Ok((conn.last_insert_rowid(), uid))
}

/// Marks a synchronous trigger `completed` now, for its one contact, with the number
/// of automations whose filters turned it away.
pub fn complete_sync(conn: &Connection, id: i64, filtered: u32) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE triggers SET status = 'completed', completed_at = ?2, total_contacts = 1, filtered = ?3 WHERE id = ?1")?
        .execute(params![id, crate::store::here().now_ms(), filtered])?;
    Ok(())
}
