//! The background loops that claim due work and run it.
//!
//! Each queue's loop wakes at once when a write gives it work (the write marks its queue
//! in the store's [`Signals`](crate::store::instance::Signals), which the writer pokes
//! after the commit) and otherwise sleeps on the store's clock exactly until its next item
//! is due: no polling lag, and a test's manual clock decides when that is. What a job
//! *does* is not known here: `app.rs` hands the loop a [`Runners`] implementation that
//! dispatches each kind to its feature, so this layer imports no feature.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::{ClaimedJob, JobError};
use crate::config::JobsConfig;
use crate::store::{Instance, Store, StoreError};

/// Jobs run at the same time, at most.
const MAX_IN_FLIGHT: usize = 512;
/// Longest sleep with nothing due (a safety net; new work wakes the loop directly).
const IDLE_WAIT: Duration = Duration::from_secs(30);
/// Pause after the database refused a loop's batch, before it tries again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The queues with a loop of their own, each woken after a commit that gave it work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// The `jobs` table: emails, webhooks, imports, retries.
    Jobs = 0,
    /// Queued and scheduled v1 events (`triggers`).
    Triggers = 1,
    /// Waiting enrollments whose timer is the earliest the timer loop knows of.
    Timers = 2,
    /// Webhook outbox messages and due redeliveries.
    Webhooks = 3,
}

/// Records, inside a write, that `queue` has new due work: its loop wakes after commit.
pub fn note(queue: Queue) {
    crate::store::here().signals().mark(queue as usize);
}

/// Wakes the job loop of one store; cloned into whatever enqueues jobs.
#[derive(Clone)]
pub struct Wakeup(Arc<Instance>);

impl Wakeup {
    /// The wake-up for `store`'s job loop.
    pub fn new(store: &Store) -> Self {
        Wakeup(store.instance().clone())
    }

    /// Call after the transaction that enqueued a job has committed.
    pub fn wake(&self) {
        self.0.signals().wake(Queue::Jobs as usize);
    }
}

/// Sleeps until `next` (Unix ms on the store's clock; at most [`IDLE_WAIT`]) or until
/// `queue` is woken.
async fn sleep_until(store: &Store, queue: Queue, next: Option<i64>) {
    let instance = store.instance();
    let woken = instance.signals().notified(queue as usize).notified();
    let due = next.unwrap_or(i64::MAX);
    if due <= instance.now_ms() {
        return;
    }
    tokio::select! {
        () = woken => {}
        () = instance.clock().sleep_until(due, IDLE_WAIT) => {}
    }
}

/// What one pass of a batch loop found.
pub enum Pass {
    /// A full batch was handled; run again at once.
    More,
    /// Nothing more is due; sleep until this time (or until woken).
    Idle(Option<i64>),
}

/// Runs `pass` over and over: each pass handles a batch of what is due on the store's
/// clock; between passes the loop sleeps until the next item or a wake-up of `queue`.
pub async fn run_batches<F, Fut>(store: Store, queue: Queue, what: &'static str, pass: F)
where
    F: Fn(Store, i64) -> Fut,
    Fut: Future<Output = Result<Pass, StoreError>>,
{
    loop {
        match pass(store.clone(), store.clock().now_ms()).await {
            Ok(Pass::More) => {}
            Ok(Pass::Idle(next)) => sleep_until(&store, queue, next).await,
            Err(e) => {
                tracing::error!(error = %e, "could not process {what}");
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}

/// What runs a job of each kind; `app.rs` implements it over the features.
pub trait Runners: Send + Sync + 'static {
    /// Runs one attempt of `job`.
    fn run(&self, job: &ClaimedJob) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Lets the owner of a job record that it will not be retried.
    fn failed_for_good(&self, job: &ClaimedJob, error: &str) -> impl Future<Output = ()> + Send;
}

/// Releases jobs held by a previous process of this server, which cannot still be
/// running them. Fencing keeps this safe even if that process were somehow alive.
pub async fn recover(store: &Store) -> Result<usize, StoreError> {
    let now = store.clock().now_ms();
    store
        .write(move |conn| super::release_running(conn, now))
        .await
}

/// Runs the job loop forever on the current runtime.
pub async fn run<R: Runners>(store: Store, config: JobsConfig, runners: Arc<R>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let lease_ms = config.lease_secs as i64 * 1000;
    let wakeup = Wakeup::new(&store);
    loop {
        let free = slots.available_permits().min(config.batch);
        if free == 0 {
            drop(slots.clone().acquire_owned().await);
            continue;
        }
        let now = store.clock().now_ms();
        let claimed = store
            .write(move |conn| super::claim(conn, now, lease_ms, free))
            .await;
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "could not claim jobs");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if jobs.is_empty() {
            let next = store.read(super::next_due).unwrap_or(None);
            sleep_until(&store, Queue::Jobs, next).await;
            continue;
        }
        for job in jobs {
            let permit = slots.clone().acquire_owned().await.expect("semaphore open");
            let (store, runners, wakeup) = (store.clone(), runners.clone(), wakeup.clone());
            actix_web::rt::spawn(async move {
                execute(&store, &*runners, &wakeup, job).await;
                drop(permit);
            });
        }
    }
}

/// Runs one job; a failure goes back to the queue with backoff.
async fn execute<R: Runners>(store: &Store, runners: &R, wakeup: &Wakeup, job: ClaimedJob) {
    let Err(error) = runners.run(&job).await else {
        return;
    };
    let error = error.to_string();
    tracing::warn!(job = job.id, attempt = job.attempts, %error, "job failed");
    let failed = job.clone();
    let message = error.clone();
    let now = store.clock().now_ms();
    let retried = store
        .write(move |conn| super::retry_or_fail(conn, &failed, &message, now))
        .await;
    match retried {
        Ok(true) => wakeup.wake(),
        Ok(false) => {
            tracing::error!(job = job.id, %error, "job failed for good");
            runners.failed_for_good(&job, &error).await;
        }
        Err(e) => tracing::error!(job = job.id, error = %e, "could not record job failure"),
    }
}
