//! Embedded, append-only SQL migrations (refinery), applied on every start.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

refinery::embed_migrations!("migrations");

/// Brings the schema up to date; returns the names of migrations applied now.
///
/// Foreign keys are off while migrations run, so a migration can rebuild a table the
/// documented way (new table, copy, drop, rename) without cascading deletes; they are
/// checked before being turned back on.
pub fn migrate(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
    conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
    let report = migrations::runner()
        .run(conn)
        .map_err(|e| StoreError::Migration(e.to_string()));
    let applied: Vec<String> = match &report {
        Ok(report) => report
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect(),
        Err(_) => Vec::new(),
    };
    // Only after a change: the check reads every row that has a foreign key.
    let broken: Option<String> = if applied.is_empty() {
        None
    } else {
        conn.prepare("PRAGMA foreign_key_check")?
            .query_row([], |r| r.get(0))
            .optional()?
    };
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    report?;
    if let Some(table) = broken {
        return Err(StoreError::Migration(format!(
            "a migration left rows in {table} pointing at nothing"
        )));
    }
    Ok(applied)
}
