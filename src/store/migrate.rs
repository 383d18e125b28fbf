//! Embedded, append-only SQL migrations (refinery), applied on every start.

use rusqlite::Connection;

use super::StoreError;

refinery::embed_migrations!("migrations");

/// Brings the schema up to date; returns the names of migrations applied now.
pub fn migrate(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
    let report = migrations::runner()
        .run(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}
