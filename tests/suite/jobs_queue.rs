//! The durable queue on a real SQLite file: leases expire, a re-claim raises the fence,
//! and a stale worker cannot complete a job that another worker now holds.

use herald::config::StoreConfig;
use herald::jobs::{self, JobKind};
use herald::kinds::Clock;

fn now_ms() -> i64 {
    Clock::system().now_ms()
}
use herald::store::{Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        data_dir: dir.path().to_path_buf(),
        ..StoreConfig::default()
    };
    let store = Store::open(&config).unwrap();
    (dir, store)
}

#[test]
fn a_stale_worker_cannot_complete_a_reclaimed_job() {
    let (_dir, store) = store();
    let now = now_ms();
    store
        .write_blocking(move |conn| jobs::enqueue(conn, None, &JobKind::Maintenance, now, 5))
        .unwrap();
    // Worker 1 claims with a lease that has already run out (it "died").
    let first = store
        .write_blocking(move |conn| jobs::claim(conn, now, -1, 10))
        .unwrap();
    assert_eq!(first.len(), 1);
    // Worker 2 re-claims after the lease expiry.
    let second = store
        .write_blocking(move |conn| jobs::claim(conn, now + 1, 60_000, 10))
        .unwrap();
    assert_eq!(second.len(), 1);
    assert!(
        second[0].fence > first[0].fence,
        "fence grows at every claim"
    );
    assert_eq!(second[0].attempts, 2);
    // Nothing else is due while worker 2 holds the lease.
    let none = store
        .write_blocking(move |conn| jobs::claim(conn, now + 2, 60_000, 10))
        .unwrap();
    assert!(none.is_empty());

    let stale = first[0].clone();
    let outcome = store
        .write_blocking(move |conn| jobs::complete(conn, &stale))
        .unwrap();
    assert!(outcome.is_err(), "the stale worker is refused");
    let held = second[0].clone();
    let outcome = store
        .write_blocking(move |conn| jobs::complete(conn, &held))
        .unwrap();
    assert!(outcome.is_ok(), "the current holder completes it");
    let left: i64 = store
        .read(|conn| {
            Ok::<_, StoreError>(conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn failed_attempts_back_off_and_finally_fail() {
    let (_dir, store) = store();
    let now = now_ms();
    store
        .write_blocking(move |conn| jobs::enqueue(conn, None, &JobKind::Maintenance, now, 2))
        .unwrap();
    let job = store
        .write_blocking(move |conn| jobs::claim(conn, now, 60_000, 1))
        .unwrap()
        .remove(0);
    let retried = store
        .write_blocking(move |conn| jobs::retry_or_fail(conn, &job, "boom", now))
        .unwrap();
    assert!(retried);
    let due: i64 = store
        .read(|conn| {
            Ok::<_, StoreError>(conn.query_row("SELECT due_at FROM jobs", [], |r| r.get(0))?)
        })
        .unwrap();
    assert!(due >= now + 1000, "backed off at least a second");
    let none = store
        .write_blocking(move |conn| jobs::claim(conn, now + 10, 60_000, 1))
        .unwrap();
    assert!(none.is_empty(), "not due during the backoff");
    let job = store
        .write_blocking(move |conn| jobs::claim(conn, due, 60_000, 1))
        .unwrap()
        .remove(0);
    let retried = store
        .write_blocking(move |conn| jobs::retry_or_fail(conn, &job, "boom again", due))
        .unwrap();
    assert!(!retried, "out of attempts");
    let (status, error): (String, String) = store
        .read(|conn| {
            Ok::<_, StoreError>(
                conn.query_row("SELECT status, last_error FROM jobs", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?,
            )
        })
        .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(error, "boom again");
}
