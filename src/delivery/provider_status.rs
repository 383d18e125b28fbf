//! What SMS and WhatsApp providers say about a message: the answer to the send call
//! (accepted with an id, refused, unavailable), then the status webhooks that follow
//! (`sent → delivered → read`, or `failed` / `undelivered` with the provider's reason).
//! A status never moves back: a late `delivered` after `read` changes nothing.

use rusqlite::{Connection, OptionalExtension, params};

use super::messages::{self, MessageStatus};
use crate::channels::providers::{ProviderError, Sent, StatusUpdate};
use crate::jobs::{self, ClaimedJob};
use crate::store::StoreError;

/// How far along a provider status is; failures end the line.
fn rank(status: &str) -> u8 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" | "undelivered" | "canceled" => 4,
        // queued, accepted, scheduled, sending, and whatever a provider adds later.
        _ => 0,
    }
}

fn set_provider_status(conn: &Connection, id: i64, status: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE messages SET provider_status = ?2, updated_at = ?3,
                history = json_insert(COALESCE(history, '[]'), '$[#]',
                                      json_object('at', ?3, 'providerStatus', ?2))
         WHERE id = ?1",
    )?
    .execute(params![id, status, crate::store::here().now_ms()])?;
    Ok(())
}

/// The write after a provider call for the message `id` that `held` sends: `sent` with
/// the provider's id, `failed` with its reason, or (with `retry`, for a provider that was
/// unavailable) back to `queued` with backoff. Returns whether a retry was queued.
pub fn record_attempt(
    conn: &Connection,
    held: &ClaimedJob,
    id: i64,
    outcome: &Result<Sent, ProviderError>,
    retry: bool,
) -> Result<bool, StoreError> {
    match outcome {
        Ok(sent) => {
            messages::set_message_id(conn, id, &sent.provider_id)?;
            set_provider_status(conn, id, &sent.status)?;
            messages::set_status(conn, id, MessageStatus::Sent, None)?;
            super::send::finish(conn, held)?;
            Ok(false)
        }
        Err(e) if retry && e.is_temporary() => {
            let reason = e.to_string();
            let again = jobs::retry_or_fail(conn, held, &reason, crate::store::here().now_ms())?;
            let status = if again {
                MessageStatus::Queued
            } else {
                MessageStatus::Failed
            };
            messages::set_status(conn, id, status, Some(&reason))?;
            Ok(again)
        }
        Err(e) => {
            messages::set_status(conn, id, MessageStatus::Failed, Some(&e.to_string()))?;
            super::send::finish(conn, held)?;
            Ok(false)
        }
    }
}

/// Applies a status webhook to the channel's message with that provider id; `false`
/// when no message of the channel has it (a message sent from elsewhere).
pub fn apply(
    conn: &Connection,
    channel_id: i64,
    update: &StatusUpdate,
) -> Result<bool, StoreError> {
    let found: Option<(i64, MessageStatus, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, status, provider_status FROM messages
             WHERE channel_id = ?1 AND message_id = ?2 AND channel != 'email'",
        )?
        .query_row(params![channel_id, update.provider_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((id, status, current)) = found else {
        return Ok(false);
    };
    let new = update.status.to_ascii_lowercase();
    if current.as_deref().is_some_and(|c| rank(c) >= rank(&new)) {
        return Ok(true);
    }
    set_provider_status(conn, id, &new)?;
    match new.as_str() {
        "failed" | "undelivered" | "canceled" => {
            let code = update
                .error_code
                .as_deref()
                .map(|c| format!(" (code {c})"))
                .unwrap_or_default();
            let detail = update
                .error_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let reason = format!("the provider reported it {new}{code}{detail}");
            messages::set_status(conn, id, MessageStatus::Failed, Some(&reason))?;
        }
        "delivered" => messages::announce(conn, id, "message.delivered")?,
        "read" => messages::announce(conn, id, "message.read")?,
        "sent" if status != MessageStatus::Sent => {
            messages::set_status(conn, id, MessageStatus::Sent, None)?
        }
        _ => {}
    }
    Ok(true)
}
