//! The send job: at most one SMTP attempt per message at a time, recorded before and after
//! the call. A message found still `sending` after a crash is not sent again (it may have
//! gone out); temporary failures go back to the queue with backoff; permanent failures
//! mark the message failed and suppress the address.

use rusqlite::OptionalExtension;

use super::mailer::{Mailer, OutgoingEmail, SendError};
use super::messages::{self, MessageRow};
use crate::jobs::{self, ClaimedJob, JobContext, JobError};
use crate::store::StoreError;

enum Prepared {
    Done,
    /// The message still has to be rendered from its template.
    Render(Box<MessageRow>, Option<String>),
    Send(Box<MessageRow>, Option<String>),
}

fn finish(conn: &rusqlite::Connection, job: &ClaimedJob) -> Result<(), StoreError> {
    jobs::complete(conn, job)?.map_err(|stale| StoreError::Commit(stale.to_string()))
}

/// Renders a message waiting for its template on the blocking pool, never on the writer,
/// and stores the parts; a template that fails (or is gone) fails this message alone.
/// Returns the message ready to send, or `None` when it failed.
async fn render(
    ctx: &JobContext,
    job: &ClaimedJob,
    mut message: MessageRow,
) -> Result<Option<MessageRow>, JobError> {
    let Some((template_id, context)) = message.pending_render.take() else {
        return Ok(Some(message));
    };
    let ws = message.workspace_id;
    let template = match template_id {
        Some(id) => ctx
            .store
            .read(|conn| crate::templates::store::get_by_row(conn, ws, id))?,
        None => None,
    };
    let rendered = tokio::task::spawn_blocking(move || {
        let template = template.ok_or("its template no longer exists".to_string())?;
        let context: serde_json::Value =
            serde_json::from_str(&context).map_err(|e| format!("bad render context: {e}"))?;
        crate::templates::render_email(&template, &context)
            .map_err(|e| format!("template '{}' failed to render: {e}", template.name))
    })
    .await
    .map_err(JobError::failed)?;
    let held = job.clone();
    let id = message.id;
    let parts = rendered.clone();
    let held_still = ctx
        .store
        .write(move |conn| -> Result<bool, StoreError> {
            if !jobs::still_held(conn, &held)? {
                return Ok(false);
            }
            match &parts {
                Ok(email) => messages::fill_rendered(conn, id, email)?,
                Err(reason) => {
                    messages::set_status(conn, id, "failed", Some(reason))?;
                    finish(conn, &held)?;
                }
            }
            Ok(true)
        })
        .await?;
    if !held_still {
        return Ok(None);
    }
    Ok(rendered.ok().map(|email| MessageRow {
        subject: email.subject,
        html: email.html,
        text: email.text,
        ..message
    }))
}

/// Runs one attempt for message `message_id`.
pub async fn process(
    ctx: &JobContext,
    mailer: &Mailer,
    job: &ClaimedJob,
    message_id: i64,
) -> Result<(), JobError> {
    let held = job.clone();
    let prepared = ctx
        .store
        .write(move |conn| -> Result<Prepared, StoreError> {
            if !jobs::still_held(conn, &held)? {
                return Ok(Prepared::Done);
            }
            let Some(message) = messages::get(conn, message_id)? else {
                finish(conn, &held)?;
                return Ok(Prepared::Done);
            };
            match message.status.as_str() {
                "queued" => {}
                "sending" => {
                    messages::set_status(
                        conn,
                        message.id,
                        "failed",
                        Some("interrupted while sending; not retried so it cannot arrive twice"),
                    )?;
                    finish(conn, &held)?;
                    return Ok(Prepared::Done);
                }
                _ => {
                    finish(conn, &held)?;
                    return Ok(Prepared::Done);
                }
            }
            if let Some(reason) =
                messages::suppression(conn, message.workspace_id, &message.to_address)?
            {
                messages::set_status(
                    conn,
                    message.id,
                    "skipped",
                    Some(&format!("address suppressed: {reason}")),
                )?;
                finish(conn, &held)?;
                return Ok(Prepared::Done);
            }
            let mut unsubscribe = None;
            if message.kind == "marketing"
                && let Some(contact_id) = message.contact_id
            {
                let found: Option<(String, bool)> = conn
                    .prepare_cached("SELECT uid, subscribed FROM contacts WHERE id = ?1")?
                    .query_row([contact_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match found {
                    Some((_, false)) => {
                        messages::set_status(
                            conn,
                            message.id,
                            "skipped",
                            Some("contact is unsubscribed"),
                        )?;
                        finish(conn, &held)?;
                        return Ok(Prepared::Done);
                    }
                    Some((uid, true)) => {
                        unsubscribe = Some(super::links::in_store().unsubscribe_url(&uid))
                    }
                    None => {
                        messages::set_status(
                            conn,
                            message.id,
                            "skipped",
                            Some("contact was deleted"),
                        )?;
                        finish(conn, &held)?;
                        return Ok(Prepared::Done);
                    }
                }
            }
            if message.pending_render.is_some() {
                return Ok(Prepared::Render(Box::new(message), unsubscribe));
            }
            messages::set_status(conn, message.id, "sending", None)?;
            Ok(Prepared::Send(Box::new(message), unsubscribe))
        })
        .await?;
    let (message, unsubscribe_url) = match prepared {
        Prepared::Done => return Ok(()),
        Prepared::Send(message, unsubscribe) => (message, unsubscribe),
        Prepared::Render(message, unsubscribe) => match render(ctx, job, *message).await? {
            Some(message) => (Box::new(message), unsubscribe),
            None => return Ok(()),
        },
    };
    let email = OutgoingEmail {
        to: message.to_address.clone(),
        subject: message.subject.clone(),
        html: message.html.clone(),
        text: message.text.clone(),
        unsubscribe_url,
        uid: message.uid.clone(),
    };
    let outcome = mailer.send(&email).await;
    let held = job.clone();
    let id = message.id;
    let (ws, to) = (message.workspace_id, message.to_address.clone());
    let recorded = ctx
        .store
        .write(move |conn| -> Result<bool, StoreError> {
            match outcome {
                Ok(message_id) => {
                    messages::set_status(conn, id, "sent", None)?;
                    messages::set_message_id(conn, id, &message_id)?;
                    jobs::complete(conn, &held)?
                        .map_err(|stale| StoreError::Commit(stale.to_string()))?;
                    Ok(false)
                }
                Err(SendError::Permanent(reason)) => {
                    messages::set_status(conn, id, "failed", Some(&reason))?;
                    messages::suppress(conn, ws, &to, &format!("hard bounce: {reason}"))?;
                    jobs::complete(conn, &held)?
                        .map_err(|stale| StoreError::Commit(stale.to_string()))?;
                    Ok(false)
                }
                Err(SendError::Temporary(reason)) => {
                    let retry =
                        jobs::retry_or_fail(conn, &held, &reason, crate::store::here().now_ms())?;
                    let status = if retry { "queued" } else { "failed" };
                    messages::set_status(conn, id, status, Some(&reason))?;
                    Ok(retry)
                }
            }
        })
        .await?;
    if recorded {
        ctx.wakeup.wake();
    }
    Ok(())
}
