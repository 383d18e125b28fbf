//! Workspace API keys: shown once, stored as a SHA-256 hash, listed by prefix and label.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::AuthError;
use super::secrets::{new_token, token_hash};
use crate::kinds::WorkspaceId;

/// Every key starts with this, so leaked keys are recognisable by secret scanners.
pub const KEY_PREFIX: &str = "hk_";

/// A key as listed (never the secret itself).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A just-created key: the only moment the secret exists outside the caller.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub info: ApiKeyInfo,
    pub secret: String,
}

/// Creates a key for the workspace.
pub fn create(
    conn: &Connection,
    workspace_id: WorkspaceId,
    name: &str,
) -> Result<NewApiKey, AuthError> {
    let name = name.trim();
    if name.chars().count() > 100 {
        return Err(AuthError::Invalid(
            "Key label must be at most 100 characters.".into(),
        ));
    }
    let name = if name.is_empty() { "API key" } else { name };
    let secret = new_token(KEY_PREFIX);
    let prefix = secret[..KEY_PREFIX.len() + 8].to_string();
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![workspace_id, name, prefix, token_hash(&secret), now])?;
    Ok(NewApiKey {
        info: ApiKeyInfo {
            id: conn.last_insert_rowid(),
            name: name.into(),
            prefix,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        },
        secret,
    })
}

/// The workspace's keys, newest first.
pub fn list(conn: &Connection, workspace_id: WorkspaceId) -> Result<Vec<ApiKeyInfo>, AuthError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys
         WHERE workspace_id = ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([workspace_id], |r| {
        Ok(ApiKeyInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            created_at: r.get(3)?,
            last_used_at: r.get(4)?,
            revoked_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a key of this workspace, by id or by prefix. Revoking twice is harmless.
pub fn revoke(
    conn: &Connection,
    workspace_id: WorkspaceId,
    id_or_prefix: &str,
) -> Result<ApiKeyInfo, AuthError> {
    let id: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM api_keys WHERE workspace_id = ?1 AND (CAST(id AS TEXT) = ?2 OR prefix = ?2)",
        )?
        .query_row(params![workspace_id, id_or_prefix.trim()], |r| r.get(0))
        .optional()?;
    let id = id.ok_or(AuthError::NotFound("API key"))?;
    conn.prepare_cached("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")?
        .execute(params![id, crate::store::here().now_ms()])?;
    crate::store::here().freshness().invalidate_after_commit();
    list(conn, workspace_id)?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or(AuthError::NotFound("API key"))
}

/// Whether a presented secret has the shape of a Herald key at all.
pub fn looks_like_key(secret: &str) -> bool {
    secret.starts_with(KEY_PREFIX)
}

/// Resolves a presented key to `(key id, workspace id, workspace uid)` if it is live.
pub fn authenticate(
    conn: &Connection,
    secret: &str,
) -> Result<Option<(i64, WorkspaceId, String)>, AuthError> {
    if !looks_like_key(secret) {
        return Ok(None);
    }
    by_hash(conn, &token_hash(secret))
}

/// [`authenticate`] for a key already hashed.
pub fn by_hash(
    conn: &Connection,
    hash: &[u8],
) -> Result<Option<(i64, WorkspaceId, String)>, AuthError> {
    Ok(conn
        .prepare_cached(
            "SELECT k.id, k.workspace_id, w.uid FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
             WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
        )?
        .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// Records use of a key, at most once a minute per key to keep writes rare.
pub fn touch(conn: &Connection, key_id: i64) -> Result<(), AuthError> {
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
    )?
    .execute(params![key_id, now])?;
    Ok(())
}
