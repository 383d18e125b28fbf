//! The single writer thread with group commit.
//!
//! Writes queue up on a channel; the thread takes every write waiting, runs each in its
//! own savepoint inside one transaction, commits once and only then answers each caller.
//! A failing write rolls back its savepoint alone.
//!
//! A savepoint per write costs a little on the busiest paths (ingest), so writes whose
//! closure can simply run again ("replayable", `Fn` rather than `FnOnce`) share one
//! savepoint per batch. If one of them fails, that shared savepoint is rolled back and
//! every other write of the group is run again in a savepoint of its own, so each still
//! succeeds or fails alone and none is applied twice. Before the commit the writer runs
//! the hooks `app.rs` registered (`StoreHooks`), and after it wakes the queues the
//! committed writes marked, then answers the callers.
//!
//! With full durability the answer waits for an fsync of the write-ahead log, done by a
//! syncer thread of its own: the writer goes on with the next batch while the previous
//! one reaches the disk, and one fsync covers every batch committed before it started.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::instance::Instance;
use super::{StoreError, StoreHooks};

/// A write waiting for the writer thread.
enum Job {
    /// Runs once, in a savepoint of its own; returns what to deliver after commit.
    Once(Box<dyn FnOnce(&Connection) -> Completion + Send>),
    /// Can run again: consecutive ones share one savepoint (see [`run_batch`]).
    Replayable(Replay),
}

/// One run of a replayable write: `Ok` with what to deliver if it succeeded, `Err` with
/// the failure to deliver (its changes must then be undone).
type Replay = Box<dyn FnMut(&Connection) -> Result<Completion, Completion> + Send>;
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
    ///
    /// With `sync_wal`, `conn` must commit without syncing (`synchronous = NORMAL`): each
    /// batch is answered only after that log file has been fsynced by the syncer thread.
    pub fn start(
        conn: Connection,
        max_batch: usize,
        sync_wal: Option<PathBuf>,
        instance: Arc<Instance>,
        hooks: StoreHooks,
    ) -> Writer {
        let (sender, receiver) = mpsc::channel::<Job>();
        let counters = Arc::new(Counters::default());
        counters.alive.store(true, Ordering::SeqCst);
        let thread_counters = counters.clone();
        let deliver = match sync_wal {
            Some(wal) => Deliver::AfterSync(start_syncer(wal)),
            None => Deliver::AtOnce,
        };
        std::thread::Builder::new()
            .name("herald-writer".into())
            .spawn(move || {
                let _serving = super::instance::enter(&instance);
                let batches = Batches {
                    max_batch,
                    deliver: &deliver,
                    counters: &thread_counters,
                    instance: &instance,
                    hooks: &hooks,
                };
                batches.run(conn, receiver);
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
        let job = Job::Once(Box::new(move |conn| {
            let outcome = run_in_savepoint(conn, f);
            Box::new(move |committed: Result<(), StoreError>| {
                let result = match (committed, outcome) {
                    (Ok(()), outcome) => outcome,
                    (Err(e), _) => Err(E::from(e)),
                };
                let _ = tx.send(result);
            })
        }));
        self.send(job).map_err(E::from)?;
        Ok(rx)
    }

    /// Hands a job to the writer thread.
    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        self.sender.send(job).map_err(|_| StoreError::WriterGone)
    }

    fn enqueue_replayable<T, E>(
        &self,
        f: impl Fn(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        // Whichever run's outcome is finally delivered takes the sender.
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let run: Replay = Box::new(move |conn| {
            let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
            let tx = tx.clone();
            let deliver = move |result: Result<T, E>| -> Completion {
                Box::new(move |committed: Result<(), StoreError>| {
                    let result = match committed {
                        Ok(()) => result,
                        Err(e) => Err(E::from(e)),
                    };
                    if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                        let _ = tx.send(result);
                    }
                })
            };
            match outcome {
                Ok(Ok(value)) => Ok(deliver(Ok(value))),
                Ok(Err(e)) => Err(deliver(Err(e))),
                Err(_) => Err(deliver(Err(E::from(StoreError::WritePanicked)))),
            }
        });
        self.send(Job::Replayable(run)).map_err(E::from)?;
        Ok(rx)
    }

    /// Like [`Writer::submit`] for a write that may run more than once (its closure is
    /// `Fn`): the busiest writes share one savepoint instead of paying for one each.
    pub async fn submit_replayable<T, E>(
        &self,
        f: impl Fn(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let rx = self.enqueue_replayable(f)?;
        rx.await.map_err(|_| E::from(StoreError::WriterGone))?
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
        super::instance::here().freshness().rolled_back();
        "ROLLBACK TO w; RELEASE w"
    };
    conn.execute_batch(close)
        .map_err(|e| E::from(StoreError::from(e)))?;
    match outcome {
        Ok(result) => result,
        Err(_) => Err(E::from(StoreError::WritePanicked)),
    }
}

/// How a committed batch reaches its callers.
enum Deliver {
    /// Answer right after COMMIT (durability is SQLite's own `synchronous` setting).
    AtOnce,
    /// Answer after the syncer has fsynced the log past this commit.
    AfterSync(mpsc::Sender<Vec<Completion>>),
}

impl Deliver {
    fn committed(&self, completions: Vec<Completion>) {
        match self {
            Deliver::AtOnce => completions.into_iter().for_each(|c| c(Ok(()))),
            Deliver::AfterSync(syncer) => {
                if let Err(mpsc::SendError(completions)) = syncer.send(completions) {
                    for c in completions {
                        c(Err(StoreError::Commit("the log syncer stopped".into())));
                    }
                }
            }
        }
    }
}

/// Starts the thread that makes committed batches durable before they are answered.
fn start_syncer(wal: PathBuf) -> mpsc::Sender<Vec<Completion>> {
    let (sender, receiver) = mpsc::channel::<Vec<Completion>>();
    std::thread::Builder::new()
        .name("herald-syncer".into())
        .spawn(move || {
            let mut log = LogFile::new(wal);
            while let Ok(first) = receiver.recv() {
                // Everything committed so far is in the log: one fsync covers it all.
                let mut waiting = vec![first];
                waiting.extend(receiver.try_iter());
                let synced = log.sync();
                for completions in waiting {
                    for c in completions {
                        c(synced.clone().map_err(StoreError::Commit));
                    }
                }
            }
        })
        .expect("spawn syncer thread");
    sender
}

/// The write-ahead log file, reopened if it was replaced since the last sync.
struct LogFile {
    path: PathBuf,
    file: Option<(File, u64)>,
}

impl LogFile {
    fn new(path: PathBuf) -> LogFile {
        LogFile { path, file: None }
    }

    fn sync(&mut self) -> Result<(), String> {
        let current = std::fs::metadata(&self.path).map(|m| m.ino());
        let stale = match (&self.file, &current) {
            (Some((_, ino)), Ok(now)) => ino != now,
            _ => true,
        };
        if stale {
            let file = File::open(&self.path).map_err(sync_failed)?;
            let ino = file.metadata().map_err(sync_failed)?.ino();
            self.file = Some((file, ino));
        }
        match &self.file {
            Some((file, _)) => file.sync_data().map_err(sync_failed),
            None => Err("no log file to sync".into()),
        }
    }
}

fn sync_failed(e: std::io::Error) -> String {
    tracing::error!(error = %e, "fsync of the write-ahead log failed");
    format!("could not sync the write-ahead log: {e}")
}

/// The writer thread's loop and what it needs.
struct Batches<'a> {
    max_batch: usize,
    deliver: &'a Deliver,
    counters: &'a Counters,
    instance: &'a Instance,
    hooks: &'a StoreHooks,
}

impl Batches<'_> {
    fn run(&self, conn: Connection, receiver: mpsc::Receiver<Job>) {
        let Batches {
            max_batch,
            deliver,
            counters,
            instance,
            ..
        } = *self;
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
                let completions = run_alone(&conn, batch);
                instance.freshness().after_commit();
                instance.signals().after_commit();
                deliver.committed(completions);
            } else {
                instance.freshness().observe(&conn);
                let completions = match run_batch(&conn, batch) {
                    Ok(completions) => completions,
                    Err(e) => {
                        // A savepoint statement itself failed: nothing of this batch stands.
                        super::instance::here().freshness().rolled_back();
                        let _ = conn.execute_batch("ROLLBACK");
                        tracing::error!(error = %e, "group transaction failed");
                        counters.commits.fetch_add(1, Ordering::Relaxed);
                        counters.writes.fetch_add(count, Ordering::Relaxed);
                        continue;
                    }
                };
                // Work each batch finishes once rather than each write (see `before_commit`).
                let finished = self
                    .before_commit(&conn)
                    .and_then(|()| Ok(conn.execute_batch("COMMIT")?));
                match finished {
                    Ok(()) => {
                        instance.freshness().after_commit();
                        instance.signals().after_commit();
                        deliver.committed(completions);
                    }
                    Err(e) => {
                        super::instance::here().freshness().rolled_back();
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

    /// Runs the store's hooks in the batch's transaction just before it commits: work
    /// each batch finishes once rather than each write (such as adding up the enrollments
    /// the batch parked, one tally update per automation instead of one per event).
    fn before_commit(&self, conn: &Connection) -> Result<(), StoreError> {
        for hook in &self.hooks.before_commit {
            hook(conn)?;
        }
        Ok(())
    }
}

/// Runs each write as its own statement group, outside any shared transaction.
fn run_alone(conn: &Connection, batch: Vec<Job>) -> Vec<Completion> {
    let mut completions = Vec::with_capacity(batch.len());
    for job in batch {
        match job {
            Job::Once(f) => completions.push(f(conn)),
            Job::Replayable(mut run) => {
                completions.push(run_replay_alone(conn, &mut run).unwrap_or_else(|(c, _)| c))
            }
        }
    }
    completions
}

/// Runs a replayable write in a savepoint of its own.
fn run_replay_alone(
    conn: &Connection,
    run: &mut Replay,
) -> Result<Completion, (Completion, rusqlite::Error)> {
    let savepoint = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    if let Err(e) = savepoint("SAVEPOINT w") {
        let failed: Completion = Box::new(|_| {});
        return Err((failed, e));
    }
    match run(conn) {
        Ok(done) => match savepoint("RELEASE w") {
            Ok(_) => Ok(done),
            Err(e) => Err((done, e)),
        },
        Err(failed) => {
            super::instance::here().freshness().rolled_back();
            let _ = savepoint("ROLLBACK TO w");
            let _ = savepoint("RELEASE w");
            Ok(failed)
        }
    }
}

/// Runs a batch inside the open transaction. Consecutive replayable writes share one
/// savepoint, so a page they all touch is journaled once rather than once per write. If
/// one fails, the shared savepoint is rolled back and the others that ran under it run
/// again, each in a savepoint of its own; a write that runs once always gets its own.
///
/// Replayable writes at the very start of the transaction need no savepoint at all
/// (copying every page they touch into a sub-journal is most of a savepoint's cost): if
/// one fails, the whole transaction is rolled back and begun again, and the others run
/// again as above.
fn run_batch(conn: &Connection, batch: Vec<Job>) -> Result<Vec<Completion>, StoreError> {
    let exec = |sql: &str| -> Result<(), StoreError> {
        conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    let mut completions = Vec::with_capacity(batch.len());
    // Replayable writes run under the open group, with their deliveries.
    let mut group: Vec<(Replay, Completion)> = Vec::new();
    let mut open = Group::Closed;
    // Nothing has been written in this transaction yet.
    let mut fresh = true;
    for job in batch {
        match job {
            Job::Once(f) => {
                if open == Group::Savepoint {
                    exec("RELEASE g")?;
                }
                open = Group::Closed;
                completions.extend(group.drain(..).map(|(_, c)| c));
                completions.push(f(conn));
                fresh = false;
            }
            Job::Replayable(mut run) => {
                if open == Group::Closed {
                    if fresh {
                        open = Group::Bare;
                    } else {
                        exec("SAVEPOINT g")?;
                        open = Group::Savepoint;
                    }
                    fresh = false;
                }
                match run(conn) {
                    Ok(done) => group.push((run, done)),
                    Err(failed) => {
                        super::instance::here().freshness().rolled_back();
                        if open == Group::Bare {
                            exec("ROLLBACK")?;
                            exec("BEGIN IMMEDIATE")?;
                            super::instance::here().freshness().observe(conn);
                        } else {
                            exec("ROLLBACK TO g")?;
                            exec("RELEASE g")?;
                        }
                        open = Group::Closed;
                        completions.push(failed);
                        for (mut earlier, _) in group.drain(..) {
                            completions.push(
                                run_replay_alone(conn, &mut earlier)
                                    .map_err(|(_, e)| StoreError::from(e))?,
                            );
                        }
                    }
                }
            }
        }
    }
    if open == Group::Savepoint {
        exec("RELEASE g")?;
    }
    completions.extend(group.into_iter().map(|(_, c)| c));
    Ok(completions)
}

/// How the replayable writes running now are grouped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// None are running.
    Closed,
    /// They share savepoint `g`.
    Savepoint,
    /// They opened the transaction, with no savepoint: undoing them undoes it all.
    Bare,
}
