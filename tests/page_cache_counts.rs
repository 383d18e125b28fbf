//! The page-cache figure counts only scans SQLite's default cache would really have made:
//! commits that never moved a page past the end of the file cost the default cache no
//! scan, so skipping their truncate saves nothing and must not be counted. In a process
//! of its own, since the count is process-wide.

use rusqlite::{Connection, params};

#[test]
fn commits_that_never_swap_pages_count_no_avoided_scan() {
    herald::store::page_cache::install();
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
    )
    .unwrap();
    let before = herald::store::page_cache::skipped_truncates();
    // One small row per commit: the table stays on one page, no B-tree rebalance.
    for i in 0..200 {
        conn.execute("INSERT INTO t (v) VALUES (?1)", params![format!("r{i}")])
            .unwrap();
    }
    let counted = herald::store::page_cache::skipped_truncates() - before;
    assert_eq!(
        counted, 0,
        "200 commits whose truncate the default cache answers without a scan"
    );
}
