//! Tells in-memory caches whether what they hold may be stale.
//!
//! Caches of rows that other processes can change (the CLI revoking an API key, say)
//! remember the generation they were filled at. The writer bumps the generation when it
//! sees another connection's commit (SQLite's `data_version`, checked at the start of
//! every batch) and after committing a write that asked for it. A cache entry is trusted
//! only while its generation is current and the writer has looked very recently; when
//! the writer is idle, callers go to the database. Each [`Store`](super::Store) has its
//! own `Freshness`, reached through [`super::Instance`].

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use rusqlite::Connection;

/// How old the writer's last look at the database may be for a cache entry to count.
const TRUST_WINDOW_US: i64 = 10_000;

/// One store's cache generation and the writer's last look at the database.
pub struct Freshness {
    started: Instant,
    generation: AtomicU64,
    checked_at_us: AtomicI64,
    bump_after_commit: AtomicBool,
    data_version: AtomicI64,
    rollbacks: AtomicU64,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            started: Instant::now(),
            generation: AtomicU64::new(1),
            checked_at_us: AtomicI64::new(i64::MIN / 2),
            bump_after_commit: AtomicBool::new(false),
            data_version: AtomicI64::new(-1),
            rollbacks: AtomicU64::new(0),
        }
    }
}

impl Freshness {
    /// How many writes have been rolled back. Caches filled inside a write may have seen
    /// rows a rolled-back write left for a moment; they fold this into their generation.
    pub fn rollbacks(&self) -> u64 {
        self.rollbacks.load(Ordering::Acquire)
    }

    /// Called whenever writes are rolled back (a write's savepoint, a batch, a transaction).
    pub fn rolled_back(&self) {
        self.rollbacks.fetch_add(1, Ordering::AcqRel);
    }

    /// Microseconds since this store opened, on the monotonic clock: the trust window is
    /// about the writer's liveness, not about the time of day a test may set.
    fn elapsed_us(&self) -> i64 {
        self.started.elapsed().as_micros() as i64
    }

    /// The generation a cache may stamp an entry with, or `None` when nothing can be
    /// trusted (the writer has not looked at the database lately). Read it before the lookup.
    pub fn current(&self) -> Option<u64> {
        let generation = self.generation.load(Ordering::Acquire);
        let fresh =
            self.elapsed_us() - self.checked_at_us.load(Ordering::Acquire) <= TRUST_WINDOW_US;
        fresh.then_some(generation)
    }

    /// Called inside a write that changes cached rows: every cache is dropped once it commits.
    pub fn invalidate_after_commit(&self) {
        self.bump_after_commit.store(true, Ordering::Release);
    }

    /// The writer, at the start of a batch: notices commits made by other connections.
    pub(super) fn observe(&self, conn: &Connection) {
        let Ok(version) = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        else {
            // Unknown: leave the stamp old so nothing cached is trusted.
            return;
        };
        if self.data_version.swap(version, Ordering::AcqRel) != version {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.checked_at_us
            .store(self.elapsed_us(), Ordering::Release);
    }

    /// The writer, after a commit: honours [`Freshness::invalidate_after_commit`].
    pub(super) fn after_commit(&self) {
        if self.bump_after_commit.swap(false, Ordering::AcqRel) {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}
