//! Workspaces, users and memberships as stored.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{AuthError, Role};
use crate::kinds::WorkspaceId;

/// A tenant. `uid` is its public id (the API's `id` and `X-Team-ID`).
#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub uid: String,
    pub name: String,
}

/// Reads `id, uid, name` starting at column `at`.
pub fn workspace_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: r.get(at)?,
        uid: r.get(at + 1)?,
        name: r.get(at + 2)?,
    })
}

/// A person who can sign in.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
}

/// A user's place in a workspace.
#[derive(Debug, Clone)]
pub struct Membership {
    pub workspace: Workspace,
    pub role: Role,
}

/// A member as listed on the settings page.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

fn check_workspace_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AuthError::Invalid(
            "Workspace name must be 1 to 100 characters.".into(),
        ));
    }
    Ok(name.to_string())
}

/// Finds a workspace by name (case-insensitive).
pub fn find_workspace_by_name(
    conn: &Connection,
    name: &str,
) -> Result<Option<Workspace>, AuthError> {
    Ok(conn
        .prepare_cached("SELECT id, uid, name FROM workspaces WHERE name = ?1")?
        .query_row([name.trim()], |r| workspace_from_row(r, 0))
        .optional()?)
}

/// Finds a workspace by id.
pub fn find_workspace(conn: &Connection, id: WorkspaceId) -> Result<Option<Workspace>, AuthError> {
    Ok(conn
        .prepare_cached("SELECT id, uid, name FROM workspaces WHERE id = ?1")?
        .query_row([id], |r| workspace_from_row(r, 0))
        .optional()?)
}

/// Returns the named workspace, creating it if it does not exist.
pub fn ensure_workspace(conn: &Connection, name: &str) -> Result<Workspace, AuthError> {
    let name = check_workspace_name(name)?;
    if let Some(ws) = find_workspace_by_name(conn, &name)? {
        return Ok(ws);
    }
    let uid = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached("INSERT INTO workspaces (uid, name, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![uid, name, crate::store::here().now_ms()])?;
    Ok(Workspace {
        id: WorkspaceId(conn.last_insert_rowid()),
        uid,
        name,
    })
}

/// Renames a workspace; names stay unique.
pub fn rename_workspace(
    conn: &Connection,
    id: WorkspaceId,
    name: &str,
) -> Result<Workspace, AuthError> {
    let name = check_workspace_name(name)?;
    if find_workspace_by_name(conn, &name)?.is_some_and(|other| other.id != id) {
        return Err(AuthError::Conflict(format!(
            "A workspace named '{name}' already exists."
        )));
    }
    let changed = conn
        .prepare_cached("UPDATE workspaces SET name = ?2 WHERE id = ?1")?
        .execute(params![id, name])?;
    if changed == 0 {
        return Err(AuthError::NotFound("workspace"));
    }
    find_workspace(conn, id)?.ok_or(AuthError::NotFound("workspace"))
}

/// Finds a user by (normalised) email.
pub fn find_user_by_email(conn: &Connection, email: &str) -> Result<Option<User>, AuthError> {
    Ok(conn
        .prepare_cached("SELECT id, email, password_hash FROM users WHERE email = ?1")?
        .query_row([email], |r| {
            Ok(User {
                id: r.get(0)?,
                email: r.get(1)?,
                password_hash: r.get(2)?,
            })
        })
        .optional()?)
}

/// Finds a user by id.
pub fn find_user(conn: &Connection, id: i64) -> Result<Option<User>, AuthError> {
    Ok(conn
        .prepare_cached("SELECT id, email, password_hash FROM users WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(User {
                id: r.get(0)?,
                email: r.get(1)?,
                password_hash: r.get(2)?,
            })
        })
        .optional()?)
}

/// Whether anyone can sign in yet (decides whether the setup link is offered).
pub fn any_user(conn: &Connection) -> Result<bool, AuthError> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
}

/// Creates a user with an already-hashed password.
pub fn insert_user(conn: &Connection, email: &str, password_hash: &str) -> Result<User, AuthError> {
    if find_user_by_email(conn, email)?.is_some() {
        return Err(AuthError::Conflict(format!(
            "A user with email {email} already exists."
        )));
    }
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO users (email, password_hash, created_at, password_changed_at) VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![email, password_hash, now])?;
    Ok(User {
        id: conn.last_insert_rowid(),
        email: email.into(),
        password_hash: password_hash.into(),
    })
}

/// Replaces a user's password hash.
pub fn set_password_hash(
    conn: &Connection,
    user_id: i64,
    password_hash: &str,
) -> Result<(), AuthError> {
    conn.prepare_cached(
        "UPDATE users SET password_hash = ?2, password_changed_at = ?3 WHERE id = ?1",
    )?
    .execute(params![
        user_id,
        password_hash,
        crate::store::here().now_ms()
    ])?;
    Ok(())
}

fn owner_count(conn: &Connection, workspace_id: WorkspaceId) -> Result<i64, AuthError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM memberships WHERE workspace_id = ?1 AND role = 'owner'",
        )?
        .query_row([workspace_id], |r| r.get(0))?)
}

/// Adds the user to the workspace, or changes their role if already a member; the last
/// owner is never demoted.
pub fn upsert_membership(
    conn: &Connection,
    workspace_id: WorkspaceId,
    user_id: i64,
    role: Role,
) -> Result<(), AuthError> {
    let current = membership_role(conn, workspace_id, user_id)?;
    if current == Some(Role::Owner) && role != Role::Owner && owner_count(conn, workspace_id)? <= 1
    {
        return Err(AuthError::Invalid(
            "The last owner cannot be demoted: make someone else an owner first.".into(),
        ));
    }
    conn.prepare_cached(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
    )?
    .execute(params![
        workspace_id,
        user_id,
        role.as_str(),
        crate::store::here().now_ms()
    ])?;
    Ok(())
}

/// Refuses what only an owner may do to memberships when `actor` is not one: making an
/// owner, or changing or removing one.
fn owner_rule(
    conn: &Connection,
    workspace_id: WorkspaceId,
    actor: Role,
    user_id: i64,
    new_role: Option<Role>,
) -> Result<(), AuthError> {
    if actor == Role::Owner {
        return Ok(());
    }
    if new_role == Some(Role::Owner) {
        return Err(AuthError::Invalid(
            "Only owners can make someone an owner.".into(),
        ));
    }
    if membership_role(conn, workspace_id, user_id)? == Some(Role::Owner) {
        return Err(AuthError::Invalid(
            "Only owners can change or remove an owner.".into(),
        ));
    }
    Ok(())
}

/// A membership change made by a person with role `actor` (the settings page): the
/// owner rules first, then [`upsert_membership`].
pub fn set_membership_as(
    conn: &Connection,
    workspace_id: WorkspaceId,
    actor: Role,
    user_id: i64,
    role: Role,
) -> Result<(), AuthError> {
    owner_rule(conn, workspace_id, actor, user_id, Some(role))?;
    upsert_membership(conn, workspace_id, user_id, role)
}

/// Removes a member on behalf of a person with role `actor`: only owners remove owners,
/// and the last owner cannot be removed.
pub fn remove_membership(
    conn: &Connection,
    workspace_id: WorkspaceId,
    actor: Role,
    user_id: i64,
) -> Result<(), AuthError> {
    let role =
        membership_role(conn, workspace_id, user_id)?.ok_or(AuthError::NotFound("member"))?;
    owner_rule(conn, workspace_id, actor, user_id, None)?;
    if role == Role::Owner && owner_count(conn, workspace_id)? <= 1 {
        return Err(AuthError::Invalid(
            "The last owner cannot be removed.".into(),
        ));
    }
    conn.prepare_cached("DELETE FROM memberships WHERE workspace_id = ?1 AND user_id = ?2")?
        .execute(params![workspace_id, user_id])?;
    conn.prepare_cached("DELETE FROM sessions WHERE workspace_id = ?1 AND user_id = ?2")?
        .execute(params![workspace_id, user_id])?;
    Ok(())
}

/// The user's role in a workspace, if a member.
pub fn membership_role(
    conn: &Connection,
    workspace_id: WorkspaceId,
    user_id: i64,
) -> Result<Option<Role>, AuthError> {
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM memberships WHERE workspace_id = ?1 AND user_id = ?2")?
        .query_row(params![workspace_id, user_id], |r| r.get(0))
        .optional()?;
    Ok(role.and_then(|r| r.parse().ok()))
}

/// Every workspace the user belongs to, by name.
pub fn memberships_of(conn: &Connection, user_id: i64) -> Result<Vec<Membership>, AuthError> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.id, w.uid, w.name, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = ?1 ORDER BY w.name",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        let role: String = r.get(3)?;
        Ok(Membership {
            workspace: workspace_from_row(r, 0)?,
            role: role.parse().unwrap_or(Role::Member),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Members of a workspace, by email.
pub fn members_of(conn: &Connection, workspace_id: WorkspaceId) -> Result<Vec<Member>, AuthError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.workspace_id = ?1 ORDER BY u.email",
    )?;
    let rows = stmt.query_map([workspace_id], |r| {
        let role: String = r.get(2)?;
        Ok(Member {
            user_id: r.get(0)?,
            email: r.get(1)?,
            role: role.parse().unwrap_or(Role::Member),
            created_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Creates the user if new (with `password_hash`), ensures the workspace and the membership.
/// An existing user keeps their password. Returns the user and whether they were created.
pub fn add_user_to_workspace(
    conn: &Connection,
    email: &str,
    password_hash: &str,
    workspace_name: &str,
    role: Role,
) -> Result<(User, Workspace, bool), AuthError> {
    let workspace = ensure_workspace(conn, workspace_name)?;
    let (user, created) = match find_user_by_email(conn, email)? {
        Some(user) => (user, false),
        None => (insert_user(conn, email, password_hash)?, true),
    };
    upsert_membership(conn, workspace.id, user.id, role)?;
    super::setup::clear_tokens(conn)?;
    Ok((user, workspace, created))
}
