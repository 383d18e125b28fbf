//! Tells in-memory caches whether what they hold may be stale.
//!
//! Caches of rows that other processes can change (the CLI revoking an API key, say)
//! remember the generation they were filled at. The writer bumps the generation when it
//! sees another connection's commit (SQLite's `data_version`, checked at the start of
//! every batch) and after committing a write that asked for it. A cache entry is trusted
//! only while its generation is current and the writer has looked very recently; when
//! the writer is idle, callers go to the database.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use rusqlite::Connection;

/// How old the writer's last look at the database may be for a cache entry to count.
const TRUST_WINDOW_US: i64 = 10_000;

static GENERATION: AtomicU64 = AtomicU64::new(1);
static CHECKED_AT_US: AtomicI64 = AtomicI64::new(i64::MIN / 2);
static BUMP_AFTER_COMMIT: AtomicBool = AtomicBool::new(false);
static DATA_VERSION: AtomicI64 = AtomicI64::new(-1);
static ROLLBACKS: AtomicU64 = AtomicU64::new(0);

/// How many writes have been rolled back. Caches filled inside a write may have seen
/// rows a rolled-back write left for a moment; they fold this into their generation.
pub fn rollbacks() -> u64 {
    ROLLBACKS.load(Ordering::Acquire)
}

/// Called whenever writes are rolled back (a write's savepoint, a batch, a transaction).
pub fn rolled_back() {
    ROLLBACKS.fetch_add(1, Ordering::AcqRel);
}

fn clock_us() -> i64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as i64
}

/// The generation a cache may stamp an entry with, or `None` when nothing can be trusted
/// (the writer has not looked at the database lately). Read it before the lookup.
pub fn current() -> Option<u64> {
    let generation = GENERATION.load(Ordering::Acquire);
    let fresh = clock_us() - CHECKED_AT_US.load(Ordering::Acquire) <= TRUST_WINDOW_US;
    fresh.then_some(generation)
}

/// Called inside a write that changes cached rows: every cache is dropped once it commits.
pub fn invalidate_after_commit() {
    BUMP_AFTER_COMMIT.store(true, Ordering::Release);
}

/// The writer, at the start of a batch: notices commits made by other connections.
pub(super) fn observe(conn: &Connection) {
    let Ok(version) = conn
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
    else {
        // Unknown: leave the stamp old so nothing cached is trusted.
        return;
    };
    if DATA_VERSION.swap(version, Ordering::AcqRel) != version {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
    CHECKED_AT_US.store(clock_us(), Ordering::Release);
}

/// The writer, after a commit: honours [`invalidate_after_commit`].
pub(super) fn after_commit() {
    if BUMP_AFTER_COMMIT.swap(false, Ordering::AcqRel) {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
}
