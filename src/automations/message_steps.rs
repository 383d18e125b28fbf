//! The steps that send a message: email (through a mailbox or the install's sender), SMS
//! and WhatsApp (through a channel of that kind, to the contact's phone). Each queues the
//! message with its template still to render and a send job, in the step's own write; the
//! send job renders it off the writer and sends it. A step whose channel or template is
//! gone, or of the wrong kind, fails the enrollment with why; a contact without the
//! address the step needs is skipped.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::definition::Position;
use super::runner::{RunError, finish, record};
use super::state::EnrollmentState;
use crate::channels::ChannelKind;
use crate::contacts::Contact;
use crate::delivery::messages::{self, Content, NewMessage};
use crate::jobs::{self, JobKind};
use crate::kinds::WorkspaceId;

/// What a message step names.
pub struct MessageStep<'a> {
    pub pos: &'a Position,
    /// `email`, `sms` or `whatsapp`.
    pub kind: ChannelKind,
    pub template: &'a str,
    /// A channel's id; for email, `None` or `"email"` is the install's sender.
    pub channel: Option<&'a str>,
}

/// What the step runs in: its enrollment, contact and the data templates see.
pub struct Scope<'a> {
    pub ws: WorkspaceId,
    pub enrollment_id: i64,
    pub contact: &'a Contact,
    pub event: &'a Map<String, Value>,
    pub variables: &'a Map<String, Value>,
}

/// The channel row the step sends by: `Ok(None)` for the install's sender (email only),
/// `Err` with the reason when the channel was deleted or is of another kind.
fn step_channel(
    conn: &Connection,
    ws: WorkspaceId,
    step: &MessageStep<'_>,
) -> Result<Result<Option<i64>, String>, RunError> {
    let uid = step.channel.filter(|c| *c != "email");
    let Some(uid) = uid else {
        return Ok(match step.kind {
            ChannelKind::Email => Ok(None),
            kind => Err(format!("a {} step needs a channel", kind.as_str())),
        });
    };
    Ok(match crate::channels::store::get(conn, ws, uid)? {
        Some(c) if c.kind() == step.kind => Ok(Some(c.id)),
        Some(c) => Err(format!(
            "channel '{uid}' is a {} channel, not {}",
            c.kind().as_str(),
            step.kind.as_str()
        )),
        None => Err(format!("channel '{uid}' no longer exists")),
    })
}

/// A step that cannot send: recorded failed, and the enrollment fails with why.
fn fail(conn: &Connection, id: i64, step: &MessageStep<'_>, error: &str) -> Result<(), RunError> {
    record(
        conn,
        id,
        step.pos,
        step.kind.as_str(),
        "failed",
        Some(json!({"error": error})),
    )?;
    finish(conn, id, EnrollmentState::Failed, Some(error))?;
    Ok(())
}

/// Where the message goes: the contact's email or phone, as the kind needs.
fn address(contact: &Contact, kind: ChannelKind) -> Option<&str> {
    match kind {
        ChannelKind::Email => contact.email.as_deref(),
        ChannelKind::Sms | ChannelKind::WhatsApp => contact.phone.as_deref(),
    }
}

/// Queues the step's message and its send job, or records why it did not.
pub fn send(conn: &Connection, scope: &Scope<'_>, step: &MessageStep<'_>) -> Result<(), RunError> {
    let (id, kind) = (scope.enrollment_id, step.kind.as_str());
    let channel_id = match step_channel(conn, scope.ws, step)? {
        Ok(c) => c,
        Err(error) => return fail(conn, id, step, &error),
    };
    let Some(template) = crate::templates::store::get(conn, scope.ws, step.template)? else {
        let error = format!("template '{}' no longer exists", step.template);
        return fail(conn, id, step, &error);
    };
    if template.kind != kind {
        let error = format!(
            "template '{}' is an {} template",
            step.template, template.kind
        );
        return fail(conn, id, step, &error);
    }
    let Some(to) = address(scope.contact, step.kind) else {
        let what = if step.kind == ChannelKind::Email {
            "an email"
        } else {
            "a phone number"
        };
        let reason = format!("the contact has no {what}");
        record(
            conn,
            id,
            step.pos,
            kind,
            "skipped",
            Some(json!({"reason": reason})),
        )?;
        return Ok(());
    };
    let urls = crate::delivery::footer::links_for(&scope.contact.uid);
    // Rendered by the send job, off the writer thread; a template that fails to render
    // fails that message with the reason.
    let context =
        crate::templates::context(scope.contact, scope.event, scope.variables, &urls).to_string();
    let position = step.pos.render();
    let created = messages::create(
        conn,
        scope.ws,
        &NewMessage {
            channel: kind,
            contact_id: Some(scope.contact.id),
            enrollment_id: Some(id),
            position: Some(&position),
            kind: "marketing",
            to,
            content: Content::Deferred {
                template_id: template.id,
                context,
            },
            channel_id,
            envelope: None,
        },
    )?;
    if let Some(message_id) = created {
        jobs::enqueue(
            conn,
            Some(scope.ws),
            &JobKind::SendMessage { message_id },
            crate::store::here().now_ms(),
            jobs::max_attempts(),
        )?;
        record(
            conn,
            id,
            step.pos,
            kind,
            "queued",
            Some(json!({"template": template.uid})),
        )?;
    }
    Ok(())
}
