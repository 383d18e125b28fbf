//! The workspace's webhook signing secret: created on first use, shown to owners and
//! admins (receivers need it to verify signatures), rotated on request, and used to
//! sign every webhook step the Standard Webhooks way.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rusqlite::{Connection, OptionalExtension, params};

use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// Random bytes in a secret; Standard Webhooks asks for 24 to 64.
const SECRET_BYTES: usize = 24;

fn name_of(ws: WorkspaceId) -> String {
    format!("webhooks:{}", ws.0)
}

fn fresh_bytes() -> Vec<u8> {
    (0..SECRET_BYTES).map(|_| rand::random::<u8>()).collect()
}

fn render(bytes: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The workspace's webhook signing secret (`whsec_…`), created on first use so a
/// workspace that never calls a webhook never holds one.
pub fn workspace_secret(conn: &Connection, ws: WorkspaceId) -> Result<String, StoreError> {
    let name = name_of(ws);
    let existing: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM instance_secrets WHERE name = ?1")?
        .query_row([&name], |r| r.get(0))
        .optional()?;
    let bytes = match existing {
        Some(b) => b,
        None => {
            let b = fresh_bytes();
            conn.prepare_cached(
                "INSERT INTO instance_secrets (name, value, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![name, b, crate::store::here().now_ms()])?;
            b
        }
    };
    Ok(render(&bytes))
}

/// Replaces the workspace's secret with a new random one and returns it, for when the
/// old one leaked: calls signed from this commit on verify only with the new secret.
pub fn rotate_secret(conn: &Connection, ws: WorkspaceId) -> Result<String, StoreError> {
    let bytes = fresh_bytes();
    conn.prepare_cached(
        "INSERT INTO instance_secrets (name, value, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
    )?
    .execute(params![name_of(ws), bytes, crate::store::here().now_ms()])?;
    Ok(render(&bytes))
}

/// Signs the Standard Webhooks way; the workspace secret is already in `whsec_` form.
pub use crate::webhooks::signing::sign;
