//! The page-cache wrapper (`store::page_cache`) must only ever skip work, never keep a
//! page SQLite asked to drop. This runs the writes that exercise it (random inserts that
//! make SQLite swap page numbers while rebalancing, and rolled-back transactions that grew
//! the file) on a real database file, in a process of its own so the wrapper is installed
//! before SQLite is first used, and checks the data and the file's integrity.

use std::path::Path;

use rusqlite::{Connection, params};

/// A deterministic spread of keys, so rebalancing moves pages around.
fn scrambled(i: u64) -> i64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) as i64
}

fn count(conn: &Connection) -> i64 {
    conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

/// Bytes of page cache the connection holds (SQLite's own count of cached pages).
fn cache_used(conn: &Connection) -> i64 {
    let (mut current, mut highest) = (0, 0);
    // SAFETY: a status read on a live connection handle.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_status(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
            &mut current,
            &mut highest,
            0,
        )
    };
    assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
    current as i64
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// A WAL database file with a table `t` of random keys and an index on them.
fn open_indexed_table(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL);
         CREATE INDEX t_k ON t(k);",
    )
    .unwrap();
    conn
}

/// Commits 200 batches of random-keyed rows, so the index splits all over the tree,
/// and checks that the wrapper skipped the cache scans SQLite would have made.
fn committed_batches_skip_the_scan(conn: &Connection) {
    let before = herald::store::page_cache::skipped_truncates();
    let mut n = 0u64;
    for _ in 0..200 {
        conn.execute_batch("BEGIN").unwrap();
        for _ in 0..50 {
            conn.execute(
                "INSERT INTO t (k, v) VALUES (?1, ?2)",
                params![scrambled(n), format!("row {n} {}", "x".repeat(40))],
            )
            .unwrap();
            n += 1;
        }
        conn.execute_batch("COMMIT").unwrap();
    }
    assert_eq!(count(conn), 10_000);
    let skipped = herald::store::page_cache::skipped_truncates() - before;
    // Only the commits after which SQLite's default cache would have scanned count (about
    // a third of these 200: those whose rebalance swapped a page through the lock page).
    assert!(
        skipped > 50,
        "commits should not scan the cache once the wrapper is installed (skipped {skipped})"
    );
}

/// A transaction that grows the file and is rolled back: the pages it added must
/// leave the cache, or the next growth would read them back.
fn a_rolled_back_growth_leaves_the_cache(conn: &Connection) {
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let cached = cache_used(conn);
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..5_000u64 {
        conn.execute(
            "INSERT INTO t (k, v) VALUES (?1, ?2)",
            params![scrambled(1_000_000 + i), "doomed ".repeat(20)],
        )
        .unwrap();
    }
    conn.execute_batch("ROLLBACK").unwrap();
    let after: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        after, pages,
        "the rollback gives the file its old size back"
    );
    let grown = cache_used(conn) - cached;
    assert!(
        grown < 64 * 4096,
        "pages past the end must leave the cache on rollback ({grown} bytes stayed)"
    );
}

/// Savepoints rolled back inside a committed transaction, then new growth.
fn savepoints_roll_back_then_the_file_grows(conn: &Connection) {
    conn.execute_batch("BEGIN").unwrap();
    for round in 0..20u64 {
        conn.execute_batch("SAVEPOINT s").unwrap();
        for i in 0..200u64 {
            conn.execute(
                "INSERT INTO t (k, v) VALUES (?1, 'kept?')",
                params![scrambled(2_000_000 + round * 1_000 + i)],
            )
            .unwrap();
        }
        let undo = if round % 2 == 0 {
            "ROLLBACK TO s; RELEASE s"
        } else {
            "RELEASE s"
        };
        conn.execute_batch(undo).unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    for i in 0..3_000u64 {
        conn.execute(
            "INSERT INTO t (k, v) VALUES (?1, 'after')",
            params![scrambled(3_000_000 + i)],
        )
        .unwrap();
    }
}

/// The file shrinks (pages past its new end may still be cached), then grows again.
/// Returns how many rows were left after the shrink.
fn the_file_shrinks_then_grows(conn: &Connection) -> i64 {
    conn.execute("DELETE FROM t WHERE k % 2 = 0", []).unwrap();
    let left = count(conn);
    conn.execute_batch("VACUUM").unwrap();
    for i in 0..2_000u64 {
        conn.execute(
            "INSERT INTO t (k, v) VALUES (?1, 'regrown')",
            params![scrambled(4_000_000 + i) | 1],
        )
        .unwrap();
    }
    left
}

/// The data is what the writes left, by table and by index, and the file is sound.
fn the_data_and_the_file_are_intact(conn: &Connection, left: i64) {
    assert_eq!(integrity(conn), "ok");
    assert_eq!(count(conn), left + 2_000);
    let even: i64 = conn
        .query_row("SELECT COUNT(*) FROM t WHERE k % 2 = 0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(even, 0);
    let doomed: i64 = conn
        .query_row("SELECT COUNT(*) FROM t WHERE v LIKE 'doomed%'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(doomed, 0);
    let by_index: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM t INDEXED BY t_k WHERE k >= 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(by_index, count(conn));
}

#[test]
fn commits_skip_the_scan_and_rollbacks_still_drop_pages() {
    herald::store::page_cache::install();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = open_indexed_table(&path);
    committed_batches_skip_the_scan(&conn);
    a_rolled_back_growth_leaves_the_cache(&conn);
    savepoints_roll_back_then_the_file_grows(&conn);
    let left = the_file_shrinks_then_grows(&conn);
    the_data_and_the_file_are_intact(&conn, left);

    // A second connection, with a cache of its own, reads the same rows.
    drop(conn);
    let other = Connection::open(&path).unwrap();
    assert_eq!(integrity(&other), "ok");
    assert_eq!(count(&other), left + 2_000);
}
