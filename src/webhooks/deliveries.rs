//! Deliveries (one message to one endpoint) and their attempt log: what the delivery loop
//! records after each attempt, when the next one is due, and what the API lists.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};

use super::WebhookError;
use super::outbox::Message;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// Response bodies are kept up to this many bytes.
pub const KEPT_BODY_BYTES: usize = 20 * 1024;
/// How long a claimed retry is held before another pass may take it again.
pub const RETRY_LEASE_MS: i64 = 5 * 60_000;
/// First retry after this long; each next one waits four times longer.
const BACKOFF_BASE_MS: i64 = 10_000;
/// No automatic retry waits longer than a day.
const BACKOFF_CAP_MS: i64 = 24 * 3_600_000;

/// What one attempt did.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it started (the store's clock).
    pub at: i64,
    pub request_headers: Value,
    pub status: Option<u16>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// What the receiver's `Retry-After` asked for, in ms.
    pub retry_after_ms: Option<i64>,
}

impl Attempt {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 410 Gone: the receiver asks never to be called again.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }

    /// The failure in one line, for the endpoint's health.
    pub fn failure(&self) -> Option<String> {
        if self.succeeded() {
            return None;
        }
        Some(match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) => "no answer".into(),
        })
    }
}

/// The wait before retry number `n` (1 for the first retry): 10 s, 40 s, 160 s, … with
/// ±20% jitter so a burst of failures does not come back at once; a longer
/// `Retry-After` wins, up to `max_retry_after_ms`.
pub fn backoff_ms(n: i64, retry_after_ms: Option<i64>, max_retry_after_ms: i64) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(4_i64.saturating_pow((n - 1).clamp(0, 20) as u32));
    let exp = exp.min(BACKOFF_CAP_MS);
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    let wait = (exp as f64 * jitter) as i64;
    match retry_after_ms {
        Some(asked) => wait.max(asked.min(max_retry_after_ms)),
        None => wait,
    }
}

/// What a batch of attempts tells about an endpoint's health.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub last_success_at: Option<i64>,
    /// Failed attempts after the batch's last success (all of them without one).
    pub failures_after_success: i64,
    /// When the first of those failed.
    pub first_failure_at: Option<i64>,
    pub last_error: Option<String>,
}

impl Health {
    /// Adds one attempt, in the order they were made.
    pub fn add(&mut self, attempt: &Attempt) {
        match attempt.failure() {
            None => {
                self.last_success_at = Some(attempt.at);
                self.failures_after_success = 0;
                self.first_failure_at = None;
            }
            Some(e) => {
                self.failures_after_success += 1;
                self.first_failure_at.get_or_insert(attempt.at);
                self.last_error = Some(e);
            }
        }
    }
}

fn log_attempt(conn: &Connection, delivery_id: i64, n: i64, a: &Attempt) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO webhook_attempts (delivery_id, attempt, request_headers, response_status, response_body,
             duration_ms, error, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        delivery_id,
        n,
        a.request_headers.to_string(),
        a.status,
        a.response_body,
        a.duration_ms,
        a.error,
        a.at
    ])?;
    Ok(())
}

/// The state a delivery is left in after attempt number `n` of `1 + retry_attempts`.
fn after(
    a: &Attempt,
    n: i64,
    retry_attempts: i64,
    max_retry_after_ms: i64,
) -> (&'static str, Option<i64>) {
    if a.succeeded() {
        ("succeeded", None)
    } else if a.gone() || n > retry_attempts {
        ("failed", None)
    } else {
        let now = crate::store::here().now_ms();
        (
            "pending",
            Some(now + backoff_ms(n, a.retry_after_ms, max_retry_after_ms)),
        )
    }
}

/// Records the first attempt of a message to an endpoint: a new delivery and its log row.
pub fn record_first(
    conn: &Connection,
    endpoint_id: i64,
    retry_attempts: i64,
    max_retry_after_ms: i64,
    message: &Message,
    a: &Attempt,
) -> Result<(), StoreError> {
    let (status, next) = after(a, 1, retry_attempts, max_retry_after_ms);
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (uid, endpoint_id, message_id, status, attempts, next_attempt_at,
             last_status, last_error, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?8)",
    )?
    .execute(params![
        uuid::Uuid::now_v7().to_string(),
        endpoint_id,
        message.id,
        status,
        next,
        a.status,
        a.failure(),
        now
    ])?;
    log_attempt(conn, conn.last_insert_rowid(), 1, a)?;
    if next.is_some() {
        crate::jobs::scheduler::note(crate::jobs::scheduler::Queue::Webhooks);
    }
    Ok(())
}

/// A retry claimed by the delivery loop.
#[derive(Debug, Clone)]
pub struct ClaimedRetry {
    pub id: i64,
    pub endpoint_id: i64,
    pub message_id: i64,
    pub attempts: i64,
    pub fence: i64,
}

/// Claims up to `limit` due retries of active endpoints, holding each for a lease;
/// endpoints in `skip` (those with enough retries waiting already) are left for later.
pub fn claim_due(
    conn: &Connection,
    now: i64,
    limit: usize,
    skip: &[i64],
) -> Result<Vec<ClaimedRetry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE webhook_deliveries SET fence = fence + 1, next_attempt_at = ?1 + ?3
         WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                      WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND e.status = 'active'
                        AND d.endpoint_id NOT IN (SELECT value FROM json_each(?4))
                      ORDER BY d.next_attempt_at LIMIT ?2)
         RETURNING id, endpoint_id, message_id, attempts, fence",
    )?;
    let skip = serde_json::to_string(skip).unwrap_or_else(|_| "[]".into());
    let rows = stmt.query_map(params![now, limit as i64, RETRY_LEASE_MS, skip], |r| {
        Ok(ClaimedRetry {
            id: r.get(0)?,
            endpoint_id: r.get(1)?,
            message_id: r.get(2)?,
            attempts: r.get(3)?,
            fence: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When the next retry of an active endpoint is due.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 'pending' AND e.status = 'active'",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Records a retry's attempt, if the claim still holds; answers whether it did.
pub fn record_retry(
    conn: &Connection,
    claim: &ClaimedRetry,
    retry_attempts: i64,
    max_retry_after_ms: i64,
    a: &Attempt,
) -> Result<bool, StoreError> {
    let n = claim.attempts + 1;
    let (status, next) = after(a, n, retry_attempts, max_retry_after_ms);
    let changed = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_status = ?6,
                 last_error = ?7, updated_at = ?8
             WHERE id = ?1 AND fence = ?2",
        )?
        .execute(params![
            claim.id,
            claim.fence,
            status,
            n,
            next,
            a.status,
            a.failure(),
            crate::store::here().now_ms()
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    log_attempt(conn, claim.id, n, a)?;
    if next.is_some() {
        crate::jobs::scheduler::note(crate::jobs::scheduler::Queue::Webhooks);
    }
    Ok(true)
}

/// Filters of the delivery list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub event: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only deliveries older than this one (the page cursor).
    pub before_id: Option<i64>,
    pub limit: usize,
}

const DELIVERY_COLUMNS: &str =
    "d.id, d.uid, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error,
     d.created_at, d.updated_at, m.uid, m.event_type, m.body, e.uid";

fn delivery_json(r: &Row<'_>) -> rusqlite::Result<(i64, Value)> {
    let body: String = r.get(11)?;
    let next: Option<i64> = r.get(4)?;
    let status: String = r.get(2)?;
    Ok((
        r.get(0)?,
        json!({
            "_id": r.get::<_, String>(1)?,
            "webhookId": r.get::<_, String>(12)?,
            "messageId": r.get::<_, String>(9)?,
            "event": r.get::<_, String>(10)?,
            "status": status,
            "attempts": r.get::<_, i64>(3)?,
            "nextAttemptAt": if status == "pending" { next.map(iso_time) } else { None },
            "lastStatus": r.get::<_, Option<i64>>(5)?,
            "lastError": r.get::<_, Option<String>>(6)?,
            "createdAt": iso_time(r.get(7)?),
            "updatedAt": iso_time(r.get(8)?),
            "body": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        }),
    ))
}

/// One page of an endpoint's deliveries, newest first, with their row ids (for the cursor).
pub fn list(
    conn: &Connection,
    endpoint_id: i64,
    f: &DeliveryFilter,
) -> Result<Vec<(i64, Value)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
           JOIN webhook_messages m ON m.id = d.message_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.endpoint_id = ?1 AND (?2 IS NULL OR d.status = ?2) AND (?3 IS NULL OR m.event_type = ?3)
           AND (?4 IS NULL OR d.created_at >= ?4) AND (?5 IS NULL OR d.created_at < ?5)
           AND (?6 IS NULL OR d.id < ?6)
         ORDER BY d.id DESC LIMIT ?7"
    ))?;
    let rows = stmt.query_map(
        params![
            endpoint_id,
            f.status,
            f.event,
            f.since,
            f.until,
            f.before_id,
            f.limit as i64
        ],
        delivery_json,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One delivery of the endpoint with every attempt, oldest first.
pub fn get(
    conn: &Connection,
    endpoint_id: i64,
    uid: &str,
) -> Result<Option<(i64, Value)>, WebhookError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
               JOIN webhook_messages m ON m.id = d.message_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.endpoint_id = ?1 AND d.uid = ?2"
        ))?
        .query_row(params![endpoint_id, uid], delivery_json)
        .optional()?;
    let Some((id, mut delivery)) = found else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, request_headers, response_status, response_body, duration_ms, error, created_at
         FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY attempt",
    )?;
    let attempts: Vec<Value> = stmt
        .query_map([id], |r| {
            let headers: String = r.get(1)?;
            Ok(json!({
                "attempt": r.get::<_, i64>(0)?,
                "requestHeaders": serde_json::from_str::<Value>(&headers).unwrap_or(Value::Null),
                "responseStatus": r.get::<_, Option<i64>>(2)?,
                "responseBody": r.get::<_, Option<String>>(3)?,
                "durationMs": r.get::<_, i64>(4)?,
                "error": r.get::<_, Option<String>>(5)?,
                "at": iso_time(r.get(6)?),
            }))
        })?
        .collect::<Result<_, _>>()?;
    delivery["attemptLog"] = Value::Array(attempts);
    Ok(Some((id, delivery)))
}

/// Queues one more attempt of a delivery now, whatever its state; a failure after it
/// leaves the delivery failed (a redelivery by hand is one attempt).
pub fn redeliver(conn: &Connection, endpoint_id: i64, uid: &str) -> Result<bool, StoreError> {
    let now = crate::store::here().now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?3, updated_at = ?3
             WHERE endpoint_id = ?1 AND uid = ?2",
        )?
        .execute(params![endpoint_id, uid, now])?;
    if n > 0 {
        crate::jobs::scheduler::note(crate::jobs::scheduler::Queue::Webhooks);
    }
    Ok(n > 0)
}

/// Queues one more attempt of every failed delivery of the endpoint created at or after
/// `since`; answers how many.
pub fn redeliver_failed_since(
    conn: &Connection,
    endpoint_id: i64,
    since: i64,
) -> Result<usize, StoreError> {
    let now = crate::store::here().now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?3, updated_at = ?3
             WHERE endpoint_id = ?1 AND status = 'failed' AND created_at >= ?2",
        )?
        .execute(params![endpoint_id, since, now])?;
    if n > 0 {
        crate::jobs::scheduler::note(crate::jobs::scheduler::Queue::Webhooks);
    }
    Ok(n)
}

/// Counts of the endpoint's deliveries by state, for its health.
pub fn counts(conn: &Connection, endpoint_id: i64) -> Result<Value, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?1 GROUP BY status",
    )?;
    let mut out = json!({"pending": 0, "succeeded": 0, "failed": 0});
    for row in stmt.query_map([endpoint_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (status, n) = row?;
        out[status] = json!(n);
    }
    Ok(out)
}

/// How an endpoint's latest finished deliveries went: the success rate the settings page
/// shows, over a window so that an outage long past does not weigh on it forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentOutcomes {
    /// Deliveries looked at: the newest ones that succeeded or failed for good.
    pub finished: i64,
    /// How many of those succeeded.
    pub succeeded: i64,
}

impl RecentOutcomes {
    /// The share that succeeded, in percent; `None` before anything finished.
    pub fn success_percent(&self) -> Option<f64> {
        (self.finished > 0).then(|| self.succeeded as f64 * 100.0 / self.finished as f64)
    }
}

/// The outcomes of the endpoint's `window` newest finished deliveries (pending ones are
/// still open, so they do not count either way).
pub fn recent_outcomes(
    conn: &Connection,
    endpoint_id: i64,
    window: usize,
) -> Result<RecentOutcomes, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(status = 'succeeded'), 0) FROM
               (SELECT status FROM webhook_deliveries WHERE endpoint_id = ?1 AND status != 'pending'
                ORDER BY id DESC LIMIT ?2)",
        )?
        .query_row(params![endpoint_id, window as i64], |r| {
            Ok(RecentOutcomes {
                finished: r.get(0)?,
                succeeded: r.get(1)?,
            })
        })?)
}
