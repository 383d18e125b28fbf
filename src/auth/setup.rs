//! The one-time setup link that lets the first visitor create the owner account.

use rusqlite::{Connection, params};

use super::AuthError;
use super::secrets::{new_token, token_hash};

/// Issues a fresh setup token (dropping older ones) valid for `ttl_ms`.
pub fn issue_token(conn: &Connection, ttl_ms: i64) -> Result<String, AuthError> {
    clear_tokens(conn)?;
    let token = new_token("");
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![token_hash(&token), now, now + ttl_ms])?;
    Ok(token)
}

/// Whether the token is live and no account exists yet.
pub fn token_valid(conn: &Connection, token: &str) -> Result<bool, AuthError> {
    if super::accounts::any_user(conn)? {
        return Ok(false);
    }
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = ?1 AND expires_at > ?2)",
        )?
        .query_row(
            params![token_hash(token), crate::store::here().now_ms()],
            |r| r.get(0),
        )?)
}

/// Removes every setup token: once an account exists the link must stop working.
pub fn clear_tokens(conn: &Connection) -> Result<(), AuthError> {
    conn.execute("DELETE FROM setup_tokens", [])?;
    Ok(())
}
