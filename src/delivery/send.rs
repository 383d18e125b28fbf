//! The send job: at most one SMTP attempt per message at a time, recorded before and after
//! the call. A message found still `sending` after a crash is not sent again (it may have
//! gone out); temporary failures go back to the queue with backoff; permanent failures
//! mark the message failed and suppress the address.

use super::channel_mail;
use super::footer::{OptOutLinks, html_with_footer, text_with_footer};
use super::mailer::{Mailer, OutgoingEmail, SendError};
use super::messages::{self, MessageRow, MessageStatus};
use crate::channels::Channel;
use crate::jobs::{self, ClaimedJob, JobContext, JobError};
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

enum Prepared {
    Done,
    /// The message still has to be rendered from its template.
    Render(Box<MessageRow>, Option<OptOutLinks>, Option<Box<Channel>>),
    Send(Box<MessageRow>, Option<OptOutLinks>, Option<Box<Channel>>),
}

pub(crate) fn finish(conn: &rusqlite::Connection, job: &ClaimedJob) -> Result<(), StoreError> {
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
                    messages::set_status(conn, id, MessageStatus::Failed, Some(reason))?;
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

/// Runs one attempt for message `message_id`: check and claim it, render it if it waits for
/// its template, send it, and record the outcome.
pub async fn process(
    ctx: &JobContext,
    mailer: &Mailer,
    job: &ClaimedJob,
    message_id: i64,
) -> Result<(), JobError> {
    let held = job.clone();
    let prepared = ctx
        .store
        .write(move |conn| prepare(conn, &held, message_id))
        .await?;
    let (message, unsubscribe_url, channel) = match prepared {
        Prepared::Done => return Ok(()),
        Prepared::Send(message, unsubscribe, channel) => (message, unsubscribe, channel),
        Prepared::Render(message, unsubscribe, channel) => {
            match render(ctx, job, *message).await? {
                Some(message) => (Box::new(message), unsubscribe, channel),
                None => return Ok(()),
            }
        }
    };
    if let Some(text) = channel
        .as_ref()
        .filter(|c| c.kind() != crate::channels::ChannelKind::Email)
    {
        return send_text(ctx, job, *message, (**text).clone()).await;
    }
    let outcome = match channel {
        None => mailer.send(&outgoing(&message, unsubscribe_url)).await,
        Some(channel) => {
            let config = &ctx.config;
            match channel_mail::for_channel(
                &ctx.store,
                &channel,
                &config.smtp,
                &config.store.data_dir,
            ) {
                Ok(m) => m.send(&outgoing(&message, unsubscribe_url)).await,
                Err(e) => Err(SendError::Temporary(format!(
                    "channel {}: {e}",
                    channel.uid
                ))),
            }
        }
    };
    let held = job.clone();
    let id = message.id;
    let (ws, to) = (message.workspace_id, message.to_address.clone());
    let recorded = ctx
        .store
        .write(move |conn| record_outcome(conn, &held, id, ws, &to, outcome))
        .await?;
    if recorded {
        ctx.wakeup.wake();
    }
    Ok(())
}

/// Sends an SMS or WhatsApp message held by `job` and records what the provider said.
async fn send_text(
    ctx: &JobContext,
    job: &ClaimedJob,
    message: MessageRow,
    channel: Channel,
) -> Result<(), JobError> {
    let callback = channel.webhook_url(&ctx.config.base_url());
    let allow = ctx.config.webhooks.allow_private_targets;
    let id = message.id;
    let outcome =
        super::text_send::send_blocking(&ctx.store, channel, message, callback, allow).await;
    let held = job.clone();
    let retry = ctx
        .store
        .write(move |conn| super::provider_status::record_attempt(conn, &held, id, &outcome, true))
        .await?;
    if retry {
        ctx.wakeup.wake();
    }
    Ok(())
}

/// What the checks before a send decided.
enum Verdict {
    /// Send it, with these opt-out links (marketing mail to a subscribed contact).
    Go(Option<OptOutLinks>),
    /// Not this job's to send any more; leave the message as it is.
    Drop,
    /// Never send it: move it to this final status with the reason.
    Close(MessageStatus, String),
}

/// The first write of an attempt: finds the message, applies [`verdict`], and either closes
/// the job or marks the message `sending` (or hands it to the renderer) in one transaction.
fn prepare(
    conn: &rusqlite::Connection,
    held: &ClaimedJob,
    message_id: i64,
) -> Result<Prepared, StoreError> {
    if !jobs::still_held(conn, held)? {
        return Ok(Prepared::Done);
    }
    let Some(message) = messages::get(conn, message_id)? else {
        finish(conn, held)?;
        return Ok(Prepared::Done);
    };
    let unsubscribe = match verdict(conn, &message)? {
        Verdict::Go(unsubscribe) => unsubscribe,
        Verdict::Drop => {
            finish(conn, held)?;
            return Ok(Prepared::Done);
        }
        Verdict::Close(status, reason) => {
            messages::set_status(conn, message.id, status, Some(&reason))?;
            finish(conn, held)?;
            return Ok(Prepared::Done);
        }
    };
    let channel = match message.channel_id {
        Some(id) => crate::channels::store::by_id(conn, id)?.map(Box::new),
        None => None,
    };
    if message.pending_render.is_some() {
        return Ok(Prepared::Render(Box::new(message), unsubscribe, channel));
    }
    messages::set_status(conn, message.id, MessageStatus::Sending, None)?;
    Ok(Prepared::Send(Box::new(message), unsubscribe, channel))
}

/// Whether a message may be sent now: only a `queued` one (a `sending` one was interrupted
/// and may have gone out), to an address that is not suppressed, to a recipient who allows it.
fn verdict(conn: &rusqlite::Connection, message: &MessageRow) -> Result<Verdict, StoreError> {
    match message.status {
        MessageStatus::Queued => {}
        MessageStatus::Sending => {
            return Ok(Verdict::Close(
                MessageStatus::Failed,
                "interrupted while sending; not retried so it cannot arrive twice".into(),
            ));
        }
        _ => return Ok(Verdict::Drop),
    }
    let channel_named = message
        .envelope
        .as_ref()
        .is_some_and(|e| e["channel"].is_string());
    if channel_named && message.channel_id.is_none() {
        return Ok(Verdict::Close(
            MessageStatus::Failed,
            "its channel was deleted before it was sent".into(),
        ));
    }
    if message.channel != "email"
        && let Some(channel_id) = message.channel_id
        && let Some(keyword) =
            crate::channels::opt_outs::keyword(conn, channel_id, &message.to_address)?
    {
        return Ok(Verdict::Close(
            MessageStatus::Skipped,
            format!("the recipient opted out of this channel ({keyword})"),
        ));
    }
    if let Some(reason) = messages::suppression(conn, message.workspace_id, &message.to_address)? {
        return Ok(Verdict::Close(
            MessageStatus::Skipped,
            format!("address suppressed: {reason}"),
        ));
    }
    recipient_verdict(conn, message)
}

/// Marketing mail goes only to a contact that still exists and is subscribed, and carries
/// its unsubscribe link; other mail goes as it is.
fn recipient_verdict(
    conn: &rusqlite::Connection,
    message: &MessageRow,
) -> Result<Verdict, StoreError> {
    let Some(contact_id) = message.contact_id.filter(|_| message.kind == "marketing") else {
        return Ok(Verdict::Go(None));
    };
    Ok(match messages::recipient(conn, contact_id)? {
        Some((_, false)) => {
            Verdict::Close(MessageStatus::Skipped, "contact is unsubscribed".into())
        }
        Some((uid, true)) => Verdict::Go(Some(super::footer::links_for(&uid))),
        None => Verdict::Close(MessageStatus::Skipped, "contact was deleted".into()),
    })
}

/// The email the mailer gets for a message.
fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn outgoing(message: &MessageRow, opt_out: Option<OptOutLinks>) -> OutgoingEmail {
    let none = serde_json::Value::Null;
    let envelope = message.envelope.as_ref().unwrap_or(&none);
    let (html, text) = match &opt_out {
        Some(links) => (
            html_with_footer(&message.html, links),
            text_with_footer(&message.text, links),
        ),
        None => (message.html.clone(), message.text.clone()),
    };
    OutgoingEmail {
        to: message.to_address.clone(),
        subject: message.subject.clone(),
        html,
        text,
        list_id: opt_out
            .as_ref()
            .map(|_| format!("workspace-{}", message.workspace_id.0)),
        unsubscribe_url: opt_out.map(|l| l.unsubscribe),
        uid: message.uid.clone(),
        bcc: strings(envelope.get("bcc")),
        from_name: envelope["fromName"].as_str().map(String::from),
        in_reply_to: envelope["inReplyTo"].as_str().map(String::from),
        references: strings(envelope.get("references")),
    }
}

/// The write after the SMTP call: `sent`, `failed` and suppressed (hard bounce), or back to
/// `queued` for a retry. Returns whether a retry was queued, so the caller wakes the queue.
fn record_outcome(
    conn: &rusqlite::Connection,
    held: &ClaimedJob,
    id: i64,
    ws: WorkspaceId,
    to: &str,
    outcome: Result<String, SendError>,
) -> Result<bool, StoreError> {
    match outcome {
        Ok(message_id) => {
            messages::set_status(conn, id, MessageStatus::Sent, None)?;
            messages::set_message_id(conn, id, &message_id)?;
            finish(conn, held)?;
            Ok(false)
        }
        Err(SendError::Permanent(reason)) => {
            messages::set_status(conn, id, MessageStatus::Failed, Some(&reason))?;
            // A send to several addresses cannot tell which one refused.
            if !to.contains(',') {
                messages::suppress(conn, ws, to, &format!("hard bounce: {reason}"))?;
            }
            finish(conn, held)?;
            Ok(false)
        }
        Err(SendError::Temporary(reason)) => {
            let retry = jobs::retry_or_fail(conn, held, &reason, crate::store::here().now_ms())?;
            let status = if retry {
                MessageStatus::Queued
            } else {
                MessageStatus::Failed
            };
            messages::set_status(conn, id, status, Some(&reason))?;
            Ok(retry)
        }
    }
}
