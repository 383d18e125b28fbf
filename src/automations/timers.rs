//! Waiting enrollments are their own timer queue: partial indexes on `wake_at` hold every
//! enrollment waiting as a row and every arrival with members parked at their first wait,
//! and one loop advances the due ones in batches, each batch in one write (woken parked
//! members become rows first). Advancing is pure database work in that write, so a crash simply leaves
//! the enrollments due and the next batch takes them: nothing skipped, nothing twice.
//!
//! The loop sleeps until the earliest wake time it knows of. Parking a wait earlier than
//! that pokes it (after the commit); later ones cost nothing but their row.

use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::{Connection, params};

use super::arrivals::{self, Unpack};
use super::runner::{self, RunError};
use crate::jobs::scheduler::{self, Queue};
use crate::jobs::{self, JobKind};
use crate::kinds::WorkspaceId;
use crate::store::batch::{ItemError, run_isolated};
use crate::store::{Store, StoreError};

/// The earliest wake time a store's sleeping timer loop knows of (`i64::MAX`: none, wake
/// for any); kept with the store's instance.
struct Earliest(AtomicI64);

impl Default for Earliest {
    fn default() -> Self {
        Earliest(AtomicI64::new(i64::MAX))
    }
}

/// Call inside the write that parks an enrollment until `at`: wakes the loop if needed.
pub fn parked(at: i64) {
    let earliest = crate::store::here().cache::<Earliest>();
    if earliest.0.fetch_min(at, Ordering::AcqRel) > at {
        scheduler::note(Queue::Timers);
    }
}

/// The loop of `store`, before it sleeps: the earliest wake time it read.
pub fn remember(store: &Store, at: i64) {
    store
        .instance()
        .cache::<Earliest>()
        .0
        .fetch_min(at, Ordering::AcqRel);
}

/// What one pass of the timer loop found.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    /// A full batch was advanced; more may be due.
    More,
    /// Nothing more is due; the next wake time, if any.
    Next(Option<i64>),
}

/// One pass, inside a write: advances up to `limit` due enrollments and reads the next
/// wake time. Runs in the writer, so it is ordered with every park.
pub fn tick(conn: &Connection, now: i64, limit: usize) -> Result<Tick, StoreError> {
    // From here on any park wakes the loop again, until it remembers what it read.
    crate::store::here()
        .cache::<Earliest>()
        .0
        .store(i64::MAX, Ordering::Release);
    // Parked members that woke become rows, due now, and are advanced below.
    let woken = arrivals::due(conn, now, limit)?;
    for arrival in &woken {
        arrivals::unpack(conn, arrival, |m| m.wake_at() <= now, Unpack::Waiting)?;
    }
    let due: Vec<(i64, WorkspaceId)> = conn
        .prepare_cached(
            "SELECT id, workspace_id FROM enrollments
             WHERE state = 'waiting' AND wake_at IS NOT NULL AND wake_at <= ?1
             ORDER BY wake_at LIMIT ?2",
        )?
        .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    run_isolated(
        conn,
        &due,
        |conn, (id, _)| match runner::advance(conn, *id) {
            Ok(()) => Ok(()),
            Err(RunError::Store(e)) => Err(ItemError::Fatal(e)),
            Err(e) => Err(ItemError::Failed(e)),
        },
        |conn, (id, ws), e| {
            // Off the timer queue and onto the job queue, which retries with backoff.
            tracing::warn!(enrollment = id, error = %e, "advancing a due enrollment failed; retrying as a job");
            conn.prepare_cached("UPDATE enrollments SET wake_at = NULL WHERE id = ?1")?
                .execute([id])?;
            jobs::enqueue(
                conn,
                Some(*ws),
                &JobKind::RunEnrollment { enrollment_id: *id },
                crate::store::here().now_ms(),
                jobs::max_attempts(),
            )?;
            Ok(())
        },
    )?;
    if due.len() == limit || woken.len() == limit {
        return Ok(Tick::More);
    }
    Ok(Tick::Next(next_due(conn)?))
}

/// The earliest wake time of any waiting enrollment, row or parked.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    let rows: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(wake_at) FROM enrollments WHERE state = 'waiting' AND wake_at IS NOT NULL",
        )?
        .query_row([], |r| r.get(0))?;
    let parked = arrivals::next_due(conn)?;
    Ok(match (rows, parked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Takes an automation's waiting enrollments off the timer queue (it was paused).
pub fn hold(conn: &Connection, automation_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE enrollments SET held_wake_at = wake_at, wake_at = NULL
         WHERE automation_id = ?1 AND state = 'waiting' AND wake_at IS NOT NULL",
    )?
    .execute([automation_id])?;
    Ok(())
}

/// Puts an automation's held enrollments back on the timer queue (it was resumed); those
/// whose time passed while paused come due at once.
pub fn release(conn: &Connection, automation_id: i64) -> Result<(), StoreError> {
    let earliest: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(held_wake_at) FROM enrollments WHERE automation_id = ?1 AND state = 'waiting'",
        )?
        .query_row([automation_id], |r| r.get(0))?;
    let Some(earliest) = earliest else {
        return Ok(());
    };
    conn.prepare_cached(
        "UPDATE enrollments SET wake_at = held_wake_at, held_wake_at = NULL
         WHERE automation_id = ?1 AND state = 'waiting' AND held_wake_at IS NOT NULL",
    )?
    .execute([automation_id])?;
    parked(earliest);
    Ok(())
}
