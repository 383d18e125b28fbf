//! Webhook endpoints in the database: create, read, change, delete, rotate, and the
//! health an endpoint's deliveries leave behind.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Endpoint, EndpointStatus, WebhookError, outbox};
use crate::kinds::WorkspaceId;

/// How long the secret before a rotation keeps signing.
pub const ROTATION_GRACE_MS: i64 = 24 * 3_600_000;

const COLUMNS: &str = "e.id, e.uid, e.workspace_id, w.uid, e.name, e.url, e.events, e.channel, e.headers,
     e.secret, e.previous_secret, e.previous_secret_until, e.retry_attempts, e.timeout_ms, e.status,
     e.disabled_reason, e.created_by, e.cursor, e.failing_since, e.consecutive_failures, e.last_error,
     e.last_success_at, e.created_at, e.updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let events: String = r.get(6)?;
    let headers: String = r.get(8)?;
    let previous: Option<String> = r.get(10)?;
    let until: Option<i64> = r.get(11)?;
    let status: String = r.get(14)?;
    Ok(Endpoint {
        id: r.get(0)?,
        uid: r.get(1)?,
        workspace_id: r.get(2)?,
        workspace_uid: r.get(3)?,
        name: r.get(4)?,
        url: r.get(5)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        channel: r.get(7)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        secret: r.get(9)?,
        previous_secret: previous.zip(until),
        retry_attempts: r.get(12)?,
        timeout_ms: r.get(13)?,
        status: EndpointStatus::parse(&status).unwrap_or(EndpointStatus::Disabled),
        disabled_reason: r.get(15)?,
        created_by: r.get(16)?,
        cursor: r.get(17)?,
        failing_since: r.get(18)?,
        consecutive_failures: r.get(19)?,
        last_error: r.get(20)?,
        last_success_at: r.get(21)?,
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
    })
}

/// What a create or an update sets.
#[derive(Debug, Clone)]
pub struct EndpointInput {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub channel: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub secret: String,
    pub retry_attempts: i64,
    pub timeout_ms: i64,
    pub status: EndpointStatus,
}

/// Stores a new endpoint; it hears what happens from now on (its cursor starts at the
/// newest outbox message).
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    input: &EndpointInput,
    created_by: &str,
) -> Result<Endpoint, WebhookError> {
    let uid = uuid::Uuid::now_v7().to_string();
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "INSERT INTO webhook_endpoints (uid, workspace_id, name, url, events, channel, headers, secret,
             retry_attempts, timeout_ms, status, created_by, cursor, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
             (SELECT COALESCE(MAX(id), 0) FROM webhook_messages), ?13, ?13)",
    )?
    .execute(params![
        uid,
        ws,
        input.name,
        input.url,
        serde_json::to_string(&input.events).unwrap_or_default(),
        input.channel,
        serde_json::to_string(&input.headers).unwrap_or_default(),
        input.secret,
        input.retry_attempts,
        input.timeout_ms,
        input.status.as_str(),
        created_by,
        now
    ])?;
    outbox::subscriptions_changed();
    get(conn, ws, &uid)?.ok_or(WebhookError::NotFound)
}

/// Replaces what an update may change. Enabling an endpoint clears its failure run.
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    input: &EndpointInput,
) -> Result<Endpoint, WebhookError> {
    let now = crate::store::here().now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE webhook_endpoints SET name = ?3, url = ?4, events = ?5, channel = ?6, headers = ?7,
                 secret = ?8, retry_attempts = ?9, timeout_ms = ?10,
                 disabled_reason = CASE WHEN ?11 = 'active' THEN NULL ELSE disabled_reason END,
                 disabled_at = CASE WHEN ?11 = 'active' THEN NULL
                                    WHEN status = 'active' THEN ?12 ELSE disabled_at END,
                 failing_since = CASE WHEN ?11 = 'active' AND status != 'active' THEN NULL ELSE failing_since END,
                 consecutive_failures = CASE WHEN ?11 = 'active' AND status != 'active' THEN 0 ELSE consecutive_failures END,
                 status = ?11, updated_at = ?12
             WHERE workspace_id = ?1 AND uid = ?2",
        )?
        .execute(params![
            ws,
            uid,
            input.name,
            input.url,
            serde_json::to_string(&input.events).unwrap_or_default(),
            input.channel,
            serde_json::to_string(&input.headers).unwrap_or_default(),
            input.secret,
            input.retry_attempts,
            input.timeout_ms,
            input.status.as_str(),
            now
        ])?;
    if n == 0 {
        return Err(WebhookError::NotFound);
    }
    outbox::subscriptions_changed();
    crate::jobs::scheduler::note(crate::jobs::scheduler::Queue::Webhooks);
    get(conn, ws, uid)?.ok_or(WebhookError::NotFound)
}

/// Deletes an endpoint with its deliveries and their log.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<(), WebhookError> {
    let n = conn
        .prepare_cached("DELETE FROM webhook_endpoints WHERE workspace_id = ?1 AND uid = ?2")?
        .execute(params![ws, uid])?;
    if n == 0 {
        return Err(WebhookError::NotFound);
    }
    outbox::subscriptions_changed();
    Ok(())
}

/// One endpoint of the workspace.
pub fn get(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Option<Endpoint>, WebhookError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints e JOIN workspaces w ON w.id = e.workspace_id
             WHERE e.workspace_id = ?1 AND e.uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// One endpoint by its row id, whatever the workspace (the delivery loop's view).
pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Endpoint>, WebhookError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints e JOIN workspaces w ON w.id = e.workspace_id
             WHERE e.id = ?1"
        ))?
        .query_row([id], from_row)
        .optional()?)
}

/// Every endpoint of the workspace, oldest first.
pub fn all(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Endpoint>, WebhookError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints e JOIN workspaces w ON w.id = e.workspace_id
         WHERE e.workspace_id = ?1 ORDER BY e.id"
    ))?;
    let rows = stmt.query_map([ws], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Active endpoints whose cursor is behind the newest message of their workspace: the
/// ones with first attempts to make.
pub fn behind(conn: &Connection) -> Result<Vec<i64>, WebhookError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id FROM webhook_endpoints e
         WHERE e.status = 'active'
           AND e.cursor < (SELECT COALESCE(MAX(m.id), 0) FROM webhook_messages m WHERE m.workspace_id = e.workspace_id)",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Gives the endpoint a new secret; the old one keeps signing for a day.
pub fn rotate(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    secret: &str,
) -> Result<Endpoint, WebhookError> {
    let now = crate::store::here().now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = ?4,
                 secret = ?3, updated_at = ?5
             WHERE workspace_id = ?1 AND uid = ?2",
        )?
        .execute(params![ws, uid, secret, now + ROTATION_GRACE_MS, now])?;
    if n == 0 {
        return Err(WebhookError::NotFound);
    }
    get(conn, ws, uid)?.ok_or(WebhookError::NotFound)
}

/// Turns an endpoint off for a reason (a 410 answer, a long run of failures), logging it.
pub fn disable(conn: &Connection, id: i64, reason: &str) -> Result<(), WebhookError> {
    let now = crate::store::here().now_ms();
    let n = conn
        .prepare_cached(
            "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = ?2, disabled_at = ?3,
                 updated_at = ?3
             WHERE id = ?1 AND status = 'active'",
        )?
        .execute(params![id, reason, now])?;
    if n > 0 {
        tracing::warn!(
            event = "webhook.disabled",
            endpoint = id,
            reason,
            "webhook endpoint disabled"
        );
        outbox::subscriptions_changed();
    }
    Ok(())
}

/// Records what a batch of attempts says about the endpoint's health, and moves its
/// cursor past the messages whose first attempt was made.
pub fn note_health(
    conn: &Connection,
    id: i64,
    cursor: Option<i64>,
    outcome: &super::deliveries::Health,
) -> Result<(), WebhookError> {
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "UPDATE webhook_endpoints SET
             cursor = MAX(cursor, COALESCE(?2, cursor)),
             consecutive_failures = CASE WHEN ?3 THEN ?4 ELSE consecutive_failures + ?4 END,
             failing_since = CASE WHEN ?3 AND ?4 = 0 THEN NULL
                                  WHEN ?4 > 0 THEN COALESCE(CASE WHEN ?3 THEN NULL ELSE failing_since END, ?6)
                                  ELSE failing_since END,
             last_error = COALESCE(?5, last_error),
             last_success_at = CASE WHEN ?3 THEN ?7 ELSE last_success_at END
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        cursor,
        outcome.last_success_at.is_some(),
        outcome.failures_after_success,
        outcome.last_error,
        outcome.first_failure_at.unwrap_or(now),
        outcome.last_success_at
    ])?;
    Ok(())
}
