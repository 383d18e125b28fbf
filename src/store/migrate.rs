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

#[cfg(test)]
mod tests {
    use super::*;

    /// Enrollments written before arrivals existed keep working: each becomes the only
    /// member of an arrival with its old id, and everything pointing at it follows.
    #[test]
    fn enrollments_move_into_arrivals_with_everything_that_points_at_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        migrations::runner()
            .set_target(refinery::Target::Version(5))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            r#"INSERT INTO workspaces (id, uid, name, created_at) VALUES (1, 'w', 'Acme', 0);
               INSERT INTO contacts (id, uid, workspace_id, email, created_at, updated_at) VALUES (3, 'c', 1, 'a@example.com', 0, 0);
               INSERT INTO automations (id, uid, workspace_id, name, status, trigger_type, trigger_event, definition, created_at, updated_at)
                   VALUES (5, 'a', 1, 'Drip', 'active', 'event', 'signUp', '{}', 0, 0);
               INSERT INTO enrollments (id, workspace_id, automation_id, contact_id, state, position, context, wake_at, created_at, updated_at)
                   VALUES (7, 1, 5, 3, 'waiting', '1', '{"event":{"name":"signUp"}}', 99, 10, 10);
               INSERT INTO enrollment_steps (enrollment_id, position, step_type, outcome, created_at) VALUES (7, '0', 'email', 'queued', 10);
               INSERT INTO messages (uid, workspace_id, contact_id, enrollment_id, position, to_address, subject, html, text, status, created_at, updated_at)
                   VALUES ('m', 1, 3, 7, '0', 'a@example.com', 's', 'h', 't', 'sent', 10, 10);
               INSERT INTO jobs (workspace_id, kind, payload, due_at, created_at)
                   VALUES (1, 'run_enrollment', '{"kind":"run_enrollment","enrollment_id":7}', 0, 0);"#,
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let id = 7 * 1024;
        let arrival: (i64, String, String) = conn
            .query_row(
                "SELECT contact_id, occurrence, context FROM arrivals WHERE id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            arrival,
            (
                3,
                "event:signUp".into(),
                r#"{"event":{"name":"signUp"}}"#.into()
            )
        );
        let row: (String, String, i64) = conn
            .query_row(
                "SELECT state, position, wake_at FROM enrollments WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("waiting".into(), "1".into(), 99));
        let pointing: (i64, i64, String) = conn
            .query_row(
                "SELECT (SELECT enrollment_id FROM enrollment_steps), (SELECT enrollment_id FROM messages), (SELECT payload FROM jobs)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(pointing.0, id);
        assert_eq!(pointing.1, id);
        let payload: serde_json::Value = serde_json::from_str(&pointing.2).unwrap();
        assert_eq!(payload["enrollment_id"], id);
        // Deleting the contact now takes the enrollment (through its arrival) along.
        conn.execute("DELETE FROM contacts WHERE id = 3", [])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM enrollments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
