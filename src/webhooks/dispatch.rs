//! The delivery loop: first attempts in outbox order per endpoint, due retries, and the
//! endpoint health that decides when an endpoint is disabled.
//!
//! Each endpoint with messages past its cursor gets one drain task at a time: it reads a
//! batch, attempts each message in order (at most `endpoint_concurrency` at once), then
//! records the attempts and moves the cursor in one write. A crash before that write
//! sends the batch again after restart (at least once; receivers de-duplicate by
//! `webhook-id`). Retries are claimed with a lease and a fence, like jobs. Every attempt
//! holds a permit of its endpoint and one of the overall limit, taking its endpoint's
//! first, so a hanging endpoint queues behind itself and never starves the others.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::deliveries::{self, Attempt, ClaimedRetry, Health};
use super::outbox::{self, Message};
use super::sender::{self, Connection};
use super::{Endpoint, EndpointStatus, WebhookError, store};
use crate::config::WebhooksConfig;
use crate::jobs::pool::Pool;
use crate::jobs::scheduler::{self, Pass, Queue};
use crate::store::{Store, StoreError};

/// Messages one drain pass reads and attempts before it records them.
const BATCH: usize = 64;
/// Retries claimed per pass.
const RETRY_BATCH: usize = 256;
/// An endpoint with this many retries waiting in memory gets no more claimed for now.
const RETRIES_PER_ENDPOINT: usize = 16;

/// The delivery loop's shared state.
pub struct Dispatcher {
    store: Store,
    config: WebhooksConfig,
    overall: Arc<Semaphore>,
    calls: Pool,
    per_endpoint: Mutex<HashMap<i64, Arc<Semaphore>>>,
    draining: Mutex<HashSet<i64>>,
    retrying: Mutex<HashMap<i64, usize>>,
    connections: Mutex<HashMap<i64, (String, Arc<Connection>)>>,
}

/// Runs the delivery loop of `store` forever.
pub async fn run(store: Store, config: WebhooksConfig) {
    let dispatcher = Arc::new(Dispatcher {
        overall: Arc::new(Semaphore::new(config.concurrency.max(1))),
        calls: Pool::new("webhook", config.concurrency.max(1)),
        store: store.clone(),
        config,
        per_endpoint: Mutex::default(),
        draining: Mutex::default(),
        retrying: Mutex::default(),
        connections: Mutex::default(),
    });
    scheduler::run_batches(
        store,
        Queue::Webhooks,
        "webhook deliveries",
        move |_, now| {
            let d = dispatcher.clone();
            async move { d.pass(now).await }
        },
    )
    .await;
}

fn store_error(e: WebhookError) -> StoreError {
    match e {
        WebhookError::Store(e) => e,
        other => StoreError::Commit(other.to_string()),
    }
}

impl Dispatcher {
    async fn pass(self: &Arc<Self>, now: i64) -> Result<Pass, StoreError> {
        let behind = self.store.read(store::behind).map_err(store_error)?;
        for id in behind {
            if self.draining.lock().expect("drains").insert(id) {
                let d = self.clone();
                tokio::spawn(async move { d.drain(id).await });
            }
        }
        // Most wake-ups come from new messages: claim (a write) only when a retry is due.
        let next = self.store.read(deliveries::next_due)?;
        if next.is_none_or(|at| at > now) {
            return Ok(Pass::Idle(next));
        }
        let saturated: Vec<i64> = self
            .retrying
            .lock()
            .expect("retries")
            .iter()
            .filter(|(_, n)| **n >= RETRIES_PER_ENDPOINT)
            .map(|(id, _)| *id)
            .collect();
        let claimed = self
            .store
            .write(move |conn| deliveries::claim_due(conn, now, RETRY_BATCH, &saturated))
            .await?;
        if claimed.is_empty() {
            // Everything due belongs to endpoints with enough retries waiting; each retry
            // that ends wakes this loop, and this is the safety net.
            return Ok(Pass::Idle(Some(now + 1_000)));
        }
        let full = claimed.len() == RETRY_BATCH;
        for claim in claimed {
            *self
                .retrying
                .lock()
                .expect("retries")
                .entry(claim.endpoint_id)
                .or_default() += 1;
            let d = self.clone();
            tokio::spawn(async move { d.retry(claim).await });
        }
        if full {
            return Ok(Pass::More);
        }
        Ok(Pass::Idle(self.store.read(deliveries::next_due)?))
    }

    fn endpoint_slots(&self, id: i64) -> Arc<Semaphore> {
        let n = self.config.endpoint_concurrency.max(1);
        self.per_endpoint
            .lock()
            .expect("endpoint slots")
            .entry(id)
            .or_insert_with(|| Arc::new(Semaphore::new(n)))
            .clone()
    }

    /// The endpoint's client, checked again when its URL changed or the check is old.
    async fn connection(&self, endpoint: &Endpoint) -> Result<Arc<Connection>, String> {
        if let Some((url, c)) = self
            .connections
            .lock()
            .expect("connections")
            .get(&endpoint.id)
            && *url == endpoint.url
            && !c.stale()
        {
            return Ok(c.clone());
        }
        let allow = self.config.allow_private_targets;
        let ep = endpoint.clone();
        let opened = tokio::task::spawn_blocking(move || Connection::open(&ep, allow))
            .await
            .map_err(|e| e.to_string())??;
        let opened = Arc::new(opened);
        self.connections
            .lock()
            .expect("connections")
            .insert(endpoint.id, (endpoint.url.clone(), opened.clone()));
        Ok(opened)
    }

    /// One attempt, holding the endpoint's permit and then an overall one.
    async fn attempt(&self, endpoint: &Endpoint, message: Message) -> (Message, Attempt) {
        let slots = self.endpoint_slots(endpoint.id);
        let _mine = slots.acquire_owned().await.expect("never closed");
        let _any = self
            .overall
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let connection = self.connection(endpoint).await;
        let now = self.store.clock().now_ms();
        let ep = endpoint.clone();
        self.calls
            .run(move || {
                let a = sender::attempt(
                    connection.as_deref().map_err(String::as_str),
                    &ep,
                    &message,
                    now,
                );
                (message, a)
            })
            .await
    }

    async fn drain(self: Arc<Self>, id: i64) {
        loop {
            match self.drain_batch(id).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::error!(error = %e, endpoint = id, "could not deliver webhooks");
                    break;
                }
            }
        }
        self.draining.lock().expect("drains").remove(&id);
        // Messages committed while this drain was finishing find it gone: look again.
        self.store
            .instance()
            .signals()
            .wake(Queue::Webhooks as usize);
    }

    /// Attempts the next batch of the endpoint's messages; `false` when nothing is left.
    async fn drain_batch(&self, id: i64) -> Result<bool, StoreError> {
        // Reading and filtering the outbox is delivery work too: it runs on the
        // low-priority threads, so under a burst it yields the CPU to ingest.
        let st = self.store.clone();
        let read = self.calls.run(move || -> Result<_, StoreError> {
            let found = st.read(|c| store::by_id(c, id)).map_err(store_error)?;
            let Some(endpoint) = found.filter(|e| e.status == EndpointStatus::Active) else {
                return Ok(None);
            };
            let next = st.read(|c| outbox::next_for(c, &endpoint, BATCH))?;
            Ok(Some((endpoint, next)))
        });
        let Some((endpoint, (messages, last))) = read.await? else {
            return Ok(false);
        };
        let Some(last) = last else { return Ok(false) };
        let k = self.config.endpoint_concurrency.max(1);
        let mut done: Vec<(Message, Attempt)> = Vec::with_capacity(messages.len());
        let mut attempts = futures_util::stream::iter(messages)
            .map(|m| self.attempt(&endpoint, m))
            .buffered(k);
        let mut gone = false;
        while let Some(pair) = attempts.next().await {
            gone = pair.1.gone();
            done.push(pair);
            if gone {
                break;
            }
        }
        drop(attempts);
        // Stopped by a 410: the cursor stays after the last message attempted.
        let cursor = if gone {
            done.last().map(|(m, _)| m.id)
        } else {
            Some(last)
        };
        self.record_first(endpoint, done, cursor).await?;
        Ok(!gone)
    }

    async fn record_first(
        &self,
        endpoint: Endpoint,
        done: Vec<(Message, Attempt)>,
        cursor: Option<i64>,
    ) -> Result<(), StoreError> {
        let config = self.config.clone();
        self.store
            .write(move |conn| -> Result<(), WebhookError> {
                if store::by_id(conn, endpoint.id)?.is_none() {
                    return Ok(());
                }
                let mut health = Health::default();
                let max_wait = config.max_retry_after_secs as i64 * 1000;
                for (message, attempt) in &done {
                    deliveries::record_first(
                        conn,
                        endpoint.id,
                        endpoint.retry_attempts,
                        max_wait,
                        message,
                        attempt,
                    )?;
                    health.add(attempt);
                }
                store::note_health(conn, endpoint.id, cursor, &health)?;
                judge(
                    conn,
                    endpoint.id,
                    done.iter().any(|(_, a)| a.gone()),
                    &config,
                )
            })
            .await
            .map_err(store_error)
    }

    async fn retry(self: Arc<Self>, claim: ClaimedRetry) {
        if let Err(e) = self.retry_once(&claim).await {
            tracing::error!(error = %e, delivery = claim.id, "could not retry a webhook delivery");
        }
        if let Some(n) = self
            .retrying
            .lock()
            .expect("retries")
            .get_mut(&claim.endpoint_id)
        {
            *n = n.saturating_sub(1);
        }
        self.store
            .instance()
            .signals()
            .wake(Queue::Webhooks as usize);
    }

    async fn retry_once(&self, claim: &ClaimedRetry) -> Result<(), StoreError> {
        let (endpoint_id, message_id) = (claim.endpoint_id, claim.message_id);
        let endpoint = self
            .store
            .read(|c| store::by_id(c, endpoint_id))
            .map_err(store_error)?;
        let message = self.store.read(|c| outbox::message(c, message_id))?;
        let (Some(endpoint), Some(message)) = (endpoint, message) else {
            return Ok(());
        };
        let (_, attempt) = self.attempt(&endpoint, message).await;
        let config = self.config.clone();
        let claim = claim.clone();
        self.store
            .write(move |conn| -> Result<(), WebhookError> {
                let max_wait = config.max_retry_after_secs as i64 * 1000;
                if !deliveries::record_retry(
                    conn,
                    &claim,
                    endpoint.retry_attempts,
                    max_wait,
                    &attempt,
                )? {
                    return Ok(());
                }
                let mut health = Health::default();
                health.add(&attempt);
                store::note_health(conn, endpoint.id, None, &health)?;
                judge(conn, endpoint.id, attempt.gone(), &config)
            })
            .await
            .map_err(store_error)
    }
}

/// Disables the endpoint if it answered 410 Gone or its failures ran too long.
fn judge(
    conn: &rusqlite::Connection,
    id: i64,
    gone: bool,
    config: &WebhooksConfig,
) -> Result<(), WebhookError> {
    if gone {
        return store::disable(conn, id, "the endpoint answered 410 Gone");
    }
    let Some(endpoint) = store::by_id(conn, id)? else {
        return Ok(());
    };
    let now = crate::store::here().now_ms();
    let days = config.disable_after_days as i64 * 86_400_000;
    if config.disable_after_days > 0
        && endpoint
            .failing_since
            .is_some_and(|since| now - since >= days)
    {
        let reason = format!(
            "every delivery failed for {} days",
            config.disable_after_days
        );
        return store::disable(conn, id, &reason);
    }
    if config.disable_after_failures > 0
        && endpoint.consecutive_failures >= config.disable_after_failures as i64
    {
        let reason = format!("{} attempts in a row failed", endpoint.consecutive_failures);
        return store::disable(conn, id, &reason);
    }
    Ok(())
}
