//! Declared event names: the workspace's catalogue of events it cares about.

use rusqlite::{Connection, params};

use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// A declared pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: String,
    pub created_at: i64,
}

/// `^[A-Za-z][A-Za-z0-9_.-]{0,119}$`, as the product documents it.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 120;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "Invalid pattern name '{name}': it must start with a letter and contain only letters, digits, _, . or - (at most 120 characters)"
        ))
    }
}

/// Every pattern of the workspace, by name.
pub fn list(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Pattern>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, created_at FROM event_patterns WHERE workspace_id = ?1 ORDER BY name",
    )?;
    let rows = stmt.query_map([ws], |r| {
        Ok(Pattern {
            name: r.get(0)?,
            created_at: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Declares a pattern; declaring an existing one is harmless.
pub fn declare(conn: &Connection, ws: WorkspaceId, name: &str) -> Result<Pattern, StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO event_patterns (workspace_id, name, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![ws, name, crate::store::here().now_ms()])?;
    let created_at = conn
        .prepare_cached(
            "SELECT created_at FROM event_patterns WHERE workspace_id = ?1 AND name = ?2",
        )?
        .query_row(params![ws, name], |r| r.get(0))?;
    Ok(Pattern {
        name: name.into(),
        created_at,
    })
}

/// Removes a pattern; returns whether it existed.
pub fn remove(conn: &Connection, ws: WorkspaceId, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM event_patterns WHERE workspace_id = ?1 AND name = ?2")?
        .execute(params![ws, name])?
        > 0)
}

/// Event names received but never declared (that could be declared as patterns).
pub fn undeclared(conn: &Connection, ws: WorkspaceId) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT n.name FROM event_names n
         WHERE n.workspace_id = ?1 AND n.name NOT IN ('contact_added', 'contact_updated')
           AND NOT EXISTS (SELECT 1 FROM event_patterns p WHERE p.workspace_id = n.workspace_id AND p.name = n.name)
         ORDER BY n.name",
    )?;
    let rows = stmt.query_map([ws], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Declares every undeclared name that is a valid pattern; returns how many.
pub fn declare_all_undeclared(conn: &Connection, ws: WorkspaceId) -> Result<usize, StoreError> {
    let mut n = 0;
    for name in undeclared(conn, ws)? {
        if check_name(&name).is_ok() {
            declare(conn, ws, &name)?;
            n += 1;
        }
    }
    Ok(n)
}
