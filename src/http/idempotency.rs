//! `Idempotency-Key` on ingest endpoints: the same key and body within 24 hours returns
//! the first response and stores nothing new; the same key with another body is a 409.
//! Looked up and recorded inside the write transaction, so racing duplicates cannot both
//! get through.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;
use crate::store::idempotency as store;
pub use crate::store::idempotency::{WINDOW_MS, purge};

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
    match store::find(conn, ws, key.endpoint, &key.key)? {
        Some(r) if r.created_at < crate::store::here().now_ms() - WINDOW_MS => Ok(None),
        Some(r) if r.body_hash == key.body_hash => Ok(Some(Stored {
            status: r.status,
            body: r.response,
        })),
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
    store::insert(
        conn,
        ws,
        key.endpoint,
        &key.key,
        &key.body_hash,
        status,
        body,
    )
}

/// The stored response of an earlier request with the same idempotency key, marked as a
/// replay.
pub fn replayed(status: u16, body: String) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(body)
}
