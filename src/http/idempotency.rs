//! `Idempotency-Key` on ingest endpoints: the same key and body within 24 hours returns
//! the first response and stores nothing new; the same key with another body is a 409.
//! Looked up and recorded inside the write transaction, so racing duplicates cannot both
//! get through.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// How long a key is remembered.
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// A key presented with a request, with the hash of the body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub endpoint: &'static str,
    pub key: String,
    pub body_hash: Vec<u8>,
}

/// Reads the header; a key must be 1 to 255 visible characters.
pub fn from_request(
    req: &HttpRequest,
    endpoint: &'static str,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 255 visible characters",
        ));
    }
    Ok(Some(IdempotencyKey {
        endpoint,
        key: key.to_string(),
        body_hash: Sha256::digest(body).to_vec(),
    }))
}

/// A response recorded for a key.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    pub body: String,
}

/// Finds the response recorded for this key, or refuses a reused key with another body.
pub fn lookup(
    conn: &Connection,
    ws: WorkspaceId,
    key: &IdempotencyKey,
) -> Result<Option<Stored>, ApiError> {
    let found: Option<(Vec<u8>, u16, String, i64)> = conn
        .prepare_cached(
            "SELECT body_hash, status, response, created_at FROM idempotency_keys
             WHERE workspace_id = ?1 AND endpoint = ?2 AND key = ?3",
        )
        .map_err(StoreError::from)?
        .query_row(params![ws, key.endpoint, key.key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()
        .map_err(StoreError::from)?;
    match found {
        Some((_, _, _, created)) if created < crate::store::here().now_ms() - WINDOW_MS => Ok(None),
        Some((hash, status, body, _)) if hash == key.body_hash => Ok(Some(Stored { status, body })),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "Idempotency-Key was already used with a different request body",
        )),
        None => Ok(None),
    }
}

/// Records the response given for this key.
pub fn remember(
    conn: &Connection,
    ws: WorkspaceId,
    key: &IdempotencyKey,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys (workspace_id, endpoint, key, body_hash, status, response, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![ws, key.endpoint, key.key, key.body_hash, status, body, crate::store::here().now_ms()])?;
    Ok(())
}

/// Forgets keys older than the window.
pub fn purge(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
        .execute([crate::store::here().now_ms() - WINDOW_MS])?)
}
