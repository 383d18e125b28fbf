//! Wiring of the background work: which feature runs each job kind, and the loops for
//! queued v1 events and enrollment timers. The jobs layer knows only queues and leases;
//! this is where they meet the features.

use std::sync::Arc;

use crate::delivery::mailer::Mailer;
use crate::jobs::scheduler::{self, Pass, Queue, Runners};
use crate::jobs::{self, ClaimedJob, JobContext, JobError, JobKind};
use crate::store::{Store, StoreError};

/// Queued events or timers handled per write.
const BATCH: usize = 256;
/// How often the maintenance job runs.
const MAINTENANCE_EVERY_MS: i64 = 3_600_000;

/// What the job runners need besides the [`JobContext`].
pub struct Services {
    pub jobs: JobContext,
    pub mailer: Mailer,
}

impl Runners for Services {
    async fn run(&self, job: &ClaimedJob) -> Result<(), JobError> {
        let ctx = &self.jobs;
        match &job.kind {
            JobKind::ImportContacts { import_id } => {
                crate::imports::process_chunk(ctx, job, *import_id).await
            }
            JobKind::Maintenance => maintenance(ctx, job).await,
            JobKind::SendMessage { message_id } => {
                crate::delivery::send::process(ctx, &self.mailer, job, *message_id).await
            }
            JobKind::RunEnrollment { enrollment_id } => {
                crate::automations::runner::run(ctx, job, *enrollment_id).await
            }
            JobKind::CallWebhook {
                enrollment_id,
                position,
            } => crate::automations::webhook::call(ctx, job, *enrollment_id, position).await,
        }
    }

    async fn failed_for_good(&self, job: &ClaimedJob, error: &str) {
        match job.kind {
            JobKind::ImportContacts { import_id } => {
                crate::imports::mark_failed(&self.jobs, import_id, error).await
            }
            JobKind::RunEnrollment { enrollment_id } => {
                crate::automations::runner::mark_failed(&self.jobs, enrollment_id, error).await
            }
            _ => {}
        }
    }
}

/// Starts every background loop on the current runtime.
pub fn spawn_loops(services: Arc<Services>) {
    let store = services.jobs.store.clone();
    let config = services.jobs.config.jobs.clone();
    let webhooks = services.jobs.config.webhooks.clone();
    actix_web::rt::spawn(scheduler::run(store.clone(), config, services));
    actix_web::rt::spawn(scheduler::run_batches(
        store.clone(),
        Queue::Triggers,
        "queued events",
        triggers_pass,
    ));
    actix_web::rt::spawn(scheduler::run_batches(
        store.clone(),
        Queue::Timers,
        "waiting enrollments",
        timers_pass,
    ));
    actix_web::rt::spawn(crate::webhooks::dispatch::run(store, webhooks));
}

/// Ingests a batch of due queued and scheduled v1 events in one write.
async fn triggers_pass(store: Store, now: i64) -> Result<Pass, StoreError> {
    let handled = store
        .write_replayable(move |conn| crate::events::triggers::process_due(conn, now, BATCH))
        .await?;
    if handled > 0 {
        return Ok(Pass::More);
    }
    Ok(Pass::Idle(store.read(crate::events::triggers::next_due)?))
}

/// Advances a batch of waiting enrollments whose timers came due, in one write.
async fn timers_pass(store: Store, now: i64) -> Result<Pass, StoreError> {
    use crate::automations::timers::{self, Tick};
    let tick = store
        .write_replayable(move |conn| timers::tick(conn, now, BATCH))
        .await?;
    Ok(match tick {
        Tick::More => Pass::More,
        Tick::Next(next) => {
            if let Some(at) = next {
                timers::remember(&store, at);
            }
            Pass::Idle(next)
        }
    })
}

/// Makes sure one maintenance job is queued.
pub async fn ensure_maintenance(ctx: &JobContext) -> Result<(), StoreError> {
    let attempts = ctx.config.jobs.max_attempts;
    let now = ctx.store.clock().now_ms();
    ctx.store
        .write(move |conn| {
            if !jobs::queued(conn, &JobKind::Maintenance)? {
                jobs::enqueue(conn, None, &JobKind::Maintenance, now, attempts)?;
            }
            Ok(())
        })
        .await
}

/// Days of webhook outbox kept, in ms.
fn ctx_retention_ms(days: u64) -> i64 {
    days as i64 * 86_400_000
}

/// Hourly clean-up: expired sessions, idempotency records, event-source deliveries and
/// the webhook outbox past their retention; then schedules itself again.
async fn maintenance(ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
    let job = job.clone();
    let attempts = ctx.config.jobs.max_attempts;
    let retention_days = ctx.config.webhooks.retention_days;
    let now = ctx.store.clock().now_ms();
    ctx.store
        .write(move |conn| -> Result<(), JobError> {
            crate::auth::sessions::purge_expired(conn).map_err(JobError::failed)?;
            crate::http::idempotency::purge(conn)?;
            let before = now - crate::events::sources::store::DELIVERY_RETENTION_MS;
            crate::events::sources::store::prune_deliveries(conn, before, 50_000)?;
            let kept = ctx_retention_ms(retention_days);
            crate::webhooks::outbox::prune(conn, now - kept, 50_000)?;
            let next = now + MAINTENANCE_EVERY_MS;
            jobs::enqueue(conn, None, &JobKind::Maintenance, next, attempts)?;
            Ok(jobs::complete(conn, &job)??)
        })
        .await
}
