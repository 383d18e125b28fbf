//! The webhook step: POSTs `{event, payload, timestamp}` signed the Standard Webhooks way
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`),
//! reaches only addresses the [`ssrf`] policy allows (resolved once, connected to as
//! checked, no redirects), and is retried with backoff by the job queue; a refused target
//! is recorded as `refused` and not retried.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::definition::{self, Position, Step};
use super::signing::{sign, workspace_secret};
use super::store;
use crate::contacts::store as contacts;
use crate::jobs::{self, ClaimedJob, JobContext, JobError};
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::net::ssrf;
use crate::store::StoreError;

struct Call {
    url: String,
    method: String,
    id: String,
    body: String,
    secret: String,
}

fn prepare(
    conn: &Connection,
    enrollment_id: i64,
    position: &str,
) -> Result<Option<Call>, StoreError> {
    let row: Option<(WorkspaceId, i64, i64, String)> = conn
        .prepare_cached(
            "SELECT e.workspace_id, e.automation_id, e.contact_id, ar.context
                         FROM enrollments e JOIN arrivals ar ON ar.id = ?2 WHERE e.id = ?1",
        )?
        .query_row(
            [enrollment_id, super::arrivals::arrival_of(enrollment_id)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((ws, automation_id, contact_id, context)) = row else {
        return Ok(None);
    };
    let Some(automation) = store::get_by_id(conn, automation_id)? else {
        return Ok(None);
    };
    let Some(pos) = Position::parse(position) else {
        return Ok(None);
    };
    let Some(Step::Webhook { url, method }) = definition::step_at(&automation.def.steps, &pos)
    else {
        return Ok(None);
    };
    let context: Value = serde_json::from_str(&context).unwrap_or(Value::Null);
    let contact = contacts::get_by_id(conn, ws, contact_id)
        .ok()
        .map(|c| c.to_json());
    let body = json!({
        "event": context["event"]["name"].as_str().unwrap_or(automation.def.trigger.kind.as_str()),
        "payload": {
            "automation": {"id": automation.uid, "name": automation.def.name},
            "contact": contact,
            "event": context["event"]["properties"],
            "variables": context["variables"],
        },
        "timestamp": iso_time(crate::store::here().now_ms()),
    });
    Ok(Some(Call {
        url: url.clone(),
        method: method.to_ascii_uppercase(),
        id: format!("msg_enr{enrollment_id}_{}", position.replace('.', "_")),
        body: body.to_string(),
        secret: workspace_secret(conn, ws)?,
    }))
}

/// Why an attempt did not deliver: a target the policy refuses is not retried, since
/// trying again would be refused again; anything else is retried with backoff.
enum Failure {
    Refused(String),
    Attempt(String),
}

fn deliver(
    call: &Call,
    allow_private: bool,
    timeout: Duration,
    now_ms: i64,
) -> Result<u16, Failure> {
    let target = ssrf::resolve(&call.url, allow_private, timeout).map_err(|e| {
        if e.is_permanent() {
            Failure::Refused(e.to_string())
        } else {
            Failure::Attempt(e.to_string())
        }
    })?;
    let agent = target.agent(timeout);
    let timestamp = now_ms / 1000;
    let signature = sign(&call.secret, &call.id, timestamp, &call.body);
    let request = match call.method.as_str() {
        "PUT" => agent.put(&call.url),
        "PATCH" => agent.patch(&call.url),
        _ => agent.post(&call.url),
    };
    let response = request
        .header("content-type", "application/json")
        .header("webhook-id", &call.id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &signature)
        .send(call.body.as_str())
        .map_err(|e| Failure::Attempt(e.to_string()))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(Failure::Attempt(format!("HTTP {status}")))
    }
}

/// Runs one webhook attempt for the step at `position` of an enrollment.
pub async fn call(
    ctx: &JobContext,
    job: &ClaimedJob,
    enrollment_id: i64,
    position: &str,
) -> Result<(), JobError> {
    let held = job.clone();
    let pos = position.to_string();
    let prepared = ctx
        .store
        .write(move |conn| -> Result<Option<Call>, StoreError> {
            if !jobs::still_held(conn, &held)? {
                return Ok(None);
            }
            let call = prepare(conn, enrollment_id, &pos)?;
            if call.is_none() {
                jobs::complete(conn, &held)?.map_err(|e| StoreError::Commit(e.to_string()))?;
            }
            Ok(call)
        })
        .await?;
    let Some(call) = prepared else { return Ok(()) };
    let allow = ctx.config.webhooks.allow_private_targets;
    let timeout = Duration::from_secs(ctx.config.webhooks.timeout_secs);
    let now = ctx.store.clock().now_ms();
    let outcome = tokio::task::spawn_blocking(move || deliver(&call, allow, timeout, now)).await?;
    let held = job.clone();
    let pos = position.to_string();
    ctx
        .store
        .write(move |conn| -> Result<(), StoreError> {
            let (result, detail) = match &outcome {
                Ok(status) => ("delivered", json!({"status": status, "attempt": held.attempts})),
                Err(Failure::Refused(e)) => ("refused", json!({"error": e, "attempt": held.attempts})),
                Err(Failure::Attempt(e)) => ("attempt failed", json!({"error": e, "attempt": held.attempts})),
            };
            conn.prepare_cached("INSERT INTO enrollment_steps (enrollment_id, position, step_type, outcome, detail, created_at) VALUES (?1, ?2, 'webhook', ?3, ?4, ?5)")?
                .execute(params![enrollment_id, pos, result, detail.to_string(), crate::store::here().now_ms()])?;
            match &outcome {
                Ok(_) | Err(Failure::Refused(_)) => {
                    jobs::complete(conn, &held)?.map_err(|e| StoreError::Commit(e.to_string()))
                }
                Err(Failure::Attempt(e)) => jobs::retry_or_fail(conn, &held, e, crate::store::here().now_ms()).map(|_| ()),
            }
        })
        .await
        .map_err(JobError::from)
}
