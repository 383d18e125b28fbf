//! Rows of `idempotency_keys`: the response first given for a workspace's key on an
//! endpoint, kept for [`WINDOW_MS`].

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::kinds::WorkspaceId;

/// How long a key is remembered.
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// A recorded key: the hash of the body it came with and the response given.
#[derive(Debug, Clone)]
pub struct Record {
    pub body_hash: Vec<u8>,
    pub status: u16,
    pub response: String,
    pub created_at: i64,
}

/// The record of `key` on `endpoint` in the workspace, however old.
pub fn find(
    conn: &Connection,
    ws: WorkspaceId,
    endpoint: &str,
    key: &str,
) -> Result<Option<Record>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT body_hash, status, response, created_at FROM idempotency_keys
             WHERE workspace_id = ?1 AND endpoint = ?2 AND key = ?3",
        )?
        .query_row(params![ws, endpoint, key], |r| {
            Ok(Record {
                body_hash: r.get(0)?,
                status: r.get(1)?,
                response: r.get(2)?,
                created_at: r.get(3)?,
            })
        })
        .optional()?)
}

/// Records (or replaces) the response given for `key` on `endpoint`, stamped now.
pub fn insert(
    conn: &Connection,
    ws: WorkspaceId,
    endpoint: &str,
    key: &str,
    body_hash: &[u8],
    status: u16,
    response: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys (workspace_id, endpoint, key, body_hash, status, response, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![ws, endpoint, key, body_hash, status, response, super::here().now_ms()])?;
    Ok(())
}

/// Forgets keys older than the window; returns how many went.
pub fn purge(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
        .execute([super::here().now_ms() - WINDOW_MS])?)
}
