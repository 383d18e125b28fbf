//! The single writer thread with group commit.
//!
//! Writes queue up on a channel; the thread takes every write waiting, runs each in its
//! own savepoint inside one transaction, commits once (one fsync for the whole batch)
//! and only then answers each caller. A failing write rolls back its savepoint alone.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// Runs inside the transaction; returns the callback that delivers the outcome after commit.
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;
/// Receives whether the batch committed.
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Counters exported on `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterStats {
    pub commits: u64,
    pub writes: u64,
    pub queued: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
    submitted: AtomicU64,
    alive: AtomicBool,
}

/// Handle used to submit writes.
#[derive(Clone)]
pub struct Writer {
    sender: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread owning `conn`. It stops when every handle is dropped.
    pub fn start(conn: Connection, max_batch: usize) -> Writer {
        let (sender, receiver) = mpsc::channel::<Job>();
        let counters = Arc::new(Counters::default());
        counters.alive.store(true, Ordering::SeqCst);
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("herald-writer".into())
            .spawn(move || {
                run(conn, receiver, max_batch, &thread_counters);
                thread_counters.alive.store(false, Ordering::SeqCst);
            })
            .expect("spawn writer thread");
        Writer { sender, counters }
    }

    pub fn alive(&self) -> bool {
        self.counters.alive.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> WriterStats {
        let writes = self.counters.writes.load(Ordering::Relaxed);
        WriterStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writes,
            queued: self
                .counters
                .submitted
                .load(Ordering::Relaxed)
                .saturating_sub(writes),
        }
    }

    fn enqueue<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = run_in_savepoint(conn, f);
            Box::new(move |committed: Result<(), StoreError>| {
                let result = match (committed, outcome) {
                    (Ok(()), outcome) => outcome,
                    (Err(e), _) => Err(E::from(e)),
                };
                let _ = tx.send(result);
            })
        });
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        self.sender
            .send(job)
            .map_err(|_| E::from(StoreError::WriterGone))?;
        Ok(rx)
    }

    pub async fn submit<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let rx = self.enqueue(f)?;
        rx.await.map_err(|_| E::from(StoreError::WriterGone))?
    }

    pub fn submit_blocking<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let rx = self.enqueue(f)?;
        rx.blocking_recv()
            .map_err(|_| E::from(StoreError::WriterGone))?
    }
}

/// Runs one write in a savepoint so its failure (or panic) undoes only its own changes.
fn run_in_savepoint<T, E>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    conn.execute_batch("SAVEPOINT w")
        .map_err(|e| E::from(StoreError::from(e)))?;
    let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
    let keep = matches!(outcome, Ok(Ok(_)));
    let close = if keep {
        "RELEASE w"
    } else {
        "ROLLBACK TO w; RELEASE w"
    };
    conn.execute_batch(close)
        .map_err(|e| E::from(StoreError::from(e)))?;
    match outcome {
        Ok(result) => result,
        Err(_) => Err(E::from(StoreError::WritePanicked)),
    }
}

fn run(conn: Connection, receiver: mpsc::Receiver<Job>, max_batch: usize, counters: &Counters) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let count = batch.len() as u64;
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // No shared transaction (e.g. the lock timed out): each write's savepoint
            // then runs as its own transaction and reports its own outcome.
            tracing::warn!(error = %e, "writer could not begin a group transaction");
            for job in batch {
                job(&conn)(Ok(()));
            }
            crate::jobs::scheduler::after_commit();
        } else {
            let completions: Vec<Completion> = batch.into_iter().map(|job| job(&conn)).collect();
            match conn.execute_batch("COMMIT") {
                Ok(()) => {
                    crate::jobs::scheduler::after_commit();
                    completions.into_iter().for_each(|c| c(Ok(())));
                }
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    let message = e.to_string();
                    tracing::error!(error = %message, "group commit failed");
                    for c in completions {
                        c(Err(StoreError::Commit(message.clone())));
                    }
                }
            }
        }
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters.writes.fetch_add(count, Ordering::Relaxed);
    }
}
