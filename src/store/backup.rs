//! Consistent online copies of the database.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Writes a consistent copy of `db` to `target` with `VACUUM INTO` (which reads inside
/// one transaction, so concurrent writers are fine), then verifies the copy.
pub fn backup_to(db: &Path, target: &Path) -> Result<(), StoreError> {
    if target.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists", target.display()),
        )));
    }
    let source = Connection::open(db)?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    let target_str = target.to_string_lossy().to_string();
    source.execute("VACUUM INTO ?1", [&target_str])?;
    let copy = Connection::open(target)?;
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Integrity(verdict));
    }
    Ok(())
}
