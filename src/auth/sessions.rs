//! Sign-in sessions: a random token in an HttpOnly cookie, only its hash in the store.

use rusqlite::{Connection, OptionalExtension, params};

use super::accounts::{Workspace, workspace_from_row};
use super::secrets::{new_token, token_hash};
use super::{AuthError, Role};
use crate::kinds::WorkspaceId;

/// Name of the session cookie.
pub const COOKIE: &str = "herald_session";

/// A live session as seen by a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub workspace: Workspace,
    pub role: Role,
    pub csrf_token: String,
}

/// Starts a session in `workspace_id`; returns the token for the cookie.
pub fn create(
    conn: &Connection,
    user_id: i64,
    workspace_id: WorkspaceId,
    ttl_ms: i64,
) -> Result<String, AuthError> {
    let token = new_token("");
    let csrf = new_token("");
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, workspace_id, csrf_token, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![token_hash(&token), user_id, workspace_id, csrf, now, now + ttl_ms])?;
    Ok(token)
}

/// Resolves a cookie token to its live session (unexpired, membership still held).
pub fn find(conn: &Connection, token: &str) -> Result<Option<Session>, AuthError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.id, s.user_id, u.email, w.id, w.uid, w.name, m.role, s.csrf_token
             FROM sessions s
             JOIN users u ON u.id = s.user_id
             JOIN workspaces w ON w.id = s.workspace_id
             JOIN memberships m ON m.workspace_id = s.workspace_id AND m.user_id = s.user_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        )?
        .query_row(
            params![token_hash(token), crate::store::here().now_ms()],
            |r| {
                let role: String = r.get(6)?;
                Ok(Session {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    email: r.get(2)?,
                    workspace: workspace_from_row(r, 3)?,
                    role: role.parse().unwrap_or(Role::Member),
                    csrf_token: r.get(7)?,
                })
            },
        )
        .optional()?)
}

/// Ends one session (logout).
pub fn delete(conn: &Connection, session_id: i64) -> Result<(), AuthError> {
    conn.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
        .execute([session_id])?;
    Ok(())
}

/// Ends every session of a user (password change).
pub fn delete_all_for_user(conn: &Connection, user_id: i64) -> Result<usize, AuthError> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
        .execute([user_id])?)
}

/// Moves a session to another workspace the user belongs to.
pub fn switch_workspace(
    conn: &Connection,
    session_id: i64,
    user_id: i64,
    workspace_id: WorkspaceId,
) -> Result<(), AuthError> {
    if super::accounts::membership_role(conn, workspace_id, user_id)?.is_none() {
        return Err(AuthError::NotFound("workspace"));
    }
    conn.prepare_cached("UPDATE sessions SET workspace_id = ?2 WHERE id = ?1")?
        .execute(params![session_id, workspace_id])?;
    Ok(())
}

/// Moves a session to the workspace with public id `uid`, if the user belongs to it.
pub fn switch_workspace_by_uid(
    conn: &Connection,
    session_id: i64,
    user_id: i64,
    uid: &str,
) -> Result<(), AuthError> {
    let id: Option<WorkspaceId> = conn
        .prepare_cached("SELECT id FROM workspaces WHERE uid = ?1")?
        .query_row([uid], |r| r.get(0))
        .optional()?;
    switch_workspace(
        conn,
        session_id,
        user_id,
        id.ok_or(AuthError::NotFound("workspace"))?,
    )
}

/// Drops expired sessions; run now and then so the table does not grow forever.
pub fn purge_expired(conn: &Connection) -> Result<usize, AuthError> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([crate::store::here().now_ms()])?)
}
