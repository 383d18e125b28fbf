//! The background loop that claims due jobs and runs them.
//!
//! It wakes at once when a request enqueues work (a `Notify` poked after commit) and
//! otherwise sleeps exactly until the next job is due, so there is no polling lag.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::sync::{Notify, Semaphore};

use super::{ClaimedJob, JobKind};
use crate::app::AppState;
use crate::store::{StoreError, now_ms};

/// Jobs run at the same time, at most.
const MAX_IN_FLIGHT: usize = 512;
/// Longest sleep with nothing due (a safety net; new work wakes the loop directly).
const IDLE_WAIT: Duration = Duration::from_secs(30);

fn notify() -> &'static Notify {
    static NOTIFY: std::sync::OnceLock<Notify> = std::sync::OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

fn trigger_notify() -> &'static Notify {
    static NOTIFY: std::sync::OnceLock<Notify> = std::sync::OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Called by the writer after every commit: wakes the loops if work was queued.
pub fn after_commit() {
    if super::take_enqueued() {
        notify().notify_one();
        trigger_notify().notify_one();
    }
}

/// Ingests queued and scheduled v1 events: batches of due triggers, each batch in one
/// write, sleeping until the next one is due or new ones are queued.
pub async fn run_triggers(state: web::Data<AppState>) {
    loop {
        let handled = state
            .store
            .write(|conn| crate::events::v1::process_due(conn, now_ms(), 256))
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
        let wait = match next {
            Some(due) => {
                Duration::from_millis((due - now_ms()).clamp(0, IDLE_WAIT.as_millis() as i64) as u64)
            }
            None => IDLE_WAIT,
        };
        if !wait.is_zero() {
            let _ = tokio::time::timeout(wait, trigger_notify().notified()).await;
        }
    }
}

/// Wakes the scheduler; cloned into whatever enqueues jobs.
#[derive(Clone, Default)]
pub struct Wakeup;

impl Wakeup {
    /// Call after the transaction that enqueued a job has committed.
    pub fn wake(&self) {
        notify().notify_one();
        trigger_notify().notify_one();
    }

    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, notify().notified()).await;
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
            let wait = match next {
                Some(due) => Duration::from_millis(
                    (due - now_ms()).clamp(0, IDLE_WAIT.as_millis() as i64) as u64,
                ),
                None => IDLE_WAIT,
            };
            if !wait.is_zero() {
                state.wakeup.wait(wait).await;
            }
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
