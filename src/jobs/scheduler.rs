//! The background loop that claims due jobs and runs them.
//!
//! Each queue's loop wakes at once when a write gives it work (a `Notify` poked after the
//! commit) and otherwise sleeps exactly until its next item is due: no polling lag.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::web;
use tokio::sync::{Notify, Semaphore};

use super::{ClaimedJob, JobKind};
use crate::http::state::AppState;
use crate::kinds::time::now_ms;
use crate::store::StoreError;

/// Jobs run at the same time, at most.
const MAX_IN_FLIGHT: usize = 512;
/// Longest sleep with nothing due (a safety net; new work wakes the loop directly).
const IDLE_WAIT: Duration = Duration::from_secs(30);

/// The queues with a loop of their own, each woken after a commit that gave it work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// The `jobs` table: emails, webhooks, imports, retries.
    Jobs = 0,
    /// Queued and scheduled v1 events (`triggers`).
    Triggers = 1,
    /// Waiting enrollments whose timer is the earliest the timer loop knows of.
    Timers = 2,
}

const QUEUES: [Queue; 3] = [Queue::Jobs, Queue::Triggers, Queue::Timers];

/// Queues that got work in the transaction being written.
static PENDING: AtomicU8 = AtomicU8::new(0);

fn notify(queue: Queue) -> &'static Notify {
    static NOTIFY: [OnceLock<Notify>; 3] = [const { OnceLock::new() }; 3];
    NOTIFY[queue as usize].get_or_init(Notify::new)
}

/// Records, inside a write, that `queue` has new due work: its loop wakes after commit.
pub fn note(queue: Queue) {
    PENDING.fetch_or(1 << queue as u8, Ordering::AcqRel);
}

/// Called by the writer after every commit: wakes the loops whose queues got work.
pub fn after_commit() {
    let pending = PENDING.swap(0, Ordering::AcqRel);
    for queue in QUEUES {
        if pending & (1 << queue as u8) != 0 {
            notify(queue).notify_one();
        }
    }
}

/// Sleeps until `next` (Unix ms; at most [`IDLE_WAIT`]) or until `queue` is woken.
async fn sleep_until(queue: Queue, next: Option<i64>) {
    let wait = match next {
        Some(due) => {
            Duration::from_millis((due - now_ms()).clamp(0, IDLE_WAIT.as_millis() as i64) as u64)
        }
        None => IDLE_WAIT,
    };
    if !wait.is_zero() {
        let _ = tokio::time::timeout(wait, notify(queue).notified()).await;
    }
}

/// Advances waiting enrollments as their timers come due, in batches of one write each.
pub async fn run_timers(state: web::Data<AppState>) {
    loop {
        let tick = state
            .store
            .write_replayable(|conn| crate::automations::timers::tick(conn, now_ms(), 256))
            .await;
        match tick {
            Ok(crate::automations::timers::Tick::More) => {}
            Ok(crate::automations::timers::Tick::Next(next)) => {
                if let Some(at) = next {
                    crate::automations::timers::remember(at);
                }
                sleep_until(Queue::Timers, next).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not advance waiting enrollments");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Ingests queued and scheduled v1 events: batches of due triggers, each batch in one
/// write, sleeping until the next one is due or new ones are queued.
pub async fn run_triggers(state: web::Data<AppState>) {
    loop {
        let handled = state
            .store
            .write_replayable(|conn| crate::events::v1::process_due(conn, now_ms(), 256))
            .await;
        match handled {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(error = %e, "could not process queued events");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        let next = state
            .store
            .read(crate::events::v1::next_due)
            .unwrap_or(None);
        sleep_until(Queue::Triggers, next).await;
    }
}

/// Wakes the scheduler; cloned into whatever enqueues jobs.
#[derive(Clone, Default)]
pub struct Wakeup;

impl Wakeup {
    /// Call after the transaction that enqueued a job has committed.
    pub fn wake(&self) {
        notify(Queue::Jobs).notify_one();
    }
}

/// Releases jobs held by a previous process of this server, which cannot still be
/// running them. Fencing keeps this safe even if that process were somehow alive.
pub async fn recover(state: &AppState) -> Result<usize, StoreError> {
    state
        .store
        .write(|conn| {
            Ok::<_, StoreError>(conn.execute(
                "UPDATE jobs SET status = 'pending', due_at = ?1 WHERE status = 'running'",
                [now_ms()],
            )?)
        })
        .await
}

/// Runs the scheduler loop forever on the current runtime.
pub async fn run(state: web::Data<AppState>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let lease_ms = state.config.jobs.lease_secs as i64 * 1000;
    loop {
        let free = slots.available_permits().min(state.config.jobs.batch);
        if free == 0 {
            drop(slots.clone().acquire_owned().await);
            continue;
        }
        let claimed = state
            .store
            .write(move |conn| super::claim(conn, now_ms(), lease_ms, free))
            .await;
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "could not claim jobs");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if jobs.is_empty() {
            let next = state.store.read(super::next_due).unwrap_or(None);
            sleep_until(Queue::Jobs, next).await;
            continue;
        }
        for job in jobs {
            let permit = slots.clone().acquire_owned().await.expect("semaphore open");
            let state = state.clone();
            actix_web::rt::spawn(async move {
                execute(&state, job).await;
                drop(permit);
            });
        }
    }
}

/// Runs one job; a failure goes back to the queue with backoff.
async fn execute(state: &web::Data<AppState>, job: ClaimedJob) {
    let outcome = match &job.kind {
        JobKind::ImportContacts { import_id } => {
            crate::contacts::import::process_chunk(state, &job, *import_id).await
        }
        JobKind::Maintenance => crate::app::maintenance(state, &job).await,
        JobKind::SendMessage { message_id } => {
            crate::delivery::send::process(state, &job, *message_id).await
        }
        JobKind::RunEnrollment { enrollment_id } => {
            crate::automations::runner::run(state, &job, *enrollment_id).await
        }
        JobKind::CallWebhook {
            enrollment_id,
            position,
        } => crate::automations::webhook::call(state, &job, *enrollment_id, position).await,
    };
    if let Err(error) = outcome {
        tracing::warn!(job = job.id, attempt = job.attempts, %error, "job failed");
        let failed = job.clone();
        let message = error.clone();
        let retried = state
            .store
            .write(move |conn| super::retry_or_fail(conn, &failed, &message))
            .await;
        match retried {
            Ok(true) => state.wakeup.wake(),
            Ok(false) => {
                tracing::error!(job = job.id, %error, "job failed for good");
                on_final_failure(state, &job, &error).await;
            }
            Err(e) => tracing::error!(job = job.id, error = %e, "could not record job failure"),
        }
    }
}

/// Lets the owner of a job record that it will not be retried.
async fn on_final_failure(state: &web::Data<AppState>, job: &ClaimedJob, error: &str) {
    if let JobKind::ImportContacts { import_id } = job.kind {
        crate::contacts::import::mark_failed(state, import_id, error).await;
    }
    if let JobKind::RunEnrollment { enrollment_id } = job.kind {
        crate::automations::runner::mark_failed(state, enrollment_id, error).await;
    }
}
