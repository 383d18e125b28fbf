//! Message rows (`queued → sending → sent | failed | skipped`) and suppressions.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;
use crate::templates::RenderedEmail;

/// Where a message is in its life: `queued → sending → sent | failed | skipped`. Stored and
/// reported as the lowercase name, so the column and the API JSON read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Failed,
    Skipped,
}

impl MessageStatus {
    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Skipped => "skipped",
        }
    }
}

impl std::str::FromStr for MessageStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => MessageStatus::Queued,
            "sending" => MessageStatus::Sending,
            "sent" => MessageStatus::Sent,
            "failed" => MessageStatus::Failed,
            "skipped" => MessageStatus::Skipped,
            other => return Err(format!("unknown message status '{other}'")),
        })
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl maud::Render for MessageStatus {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str(self.as_str());
    }
}

impl ToSql for MessageStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MessageStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

/// One outgoing message: an email, an SMS or a WhatsApp message.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    /// `email`, `sms` or `whatsapp`.
    pub channel: String,
    /// What the provider last reported after accepting it (`delivered`, `read`, …).
    pub provider_status: Option<String>,
    /// Every status it went through: `[{at, status | providerStatus, reason}]`.
    pub history: Value,
    pub uid: String,
    pub workspace_id: WorkspaceId,
    pub contact_id: Option<i64>,
    pub enrollment_id: Option<i64>,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub status: MessageStatus,
    pub reason: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    /// Set while the send job still has to render the message: the template's row id
    /// and the context (JSON) the automation step saw.
    pub pending_render: Option<(Option<i64>, String)>,
    /// The channel it leaves by; `None` for the install's `[smtp]`.
    pub channel_id: Option<i64>,
    /// What the generic API asked for beyond the parts (see `channels::payload`).
    pub envelope: Option<Value>,
}

impl MessageRow {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.uid,
            "channel": self.channel,
            "to": self.to_address,
            "subject": self.subject,
            "kind": self.kind,
            "status": self.status,
            "providerStatus": self.provider_status,
            "reason": self.reason,
            "history": self.history.as_array().map(|h| {
                h.iter()
                    .map(|e| {
                        let mut e = e.clone();
                        if let Some(at) = e["at"].as_i64() {
                            e["at"] = json!(iso_time(at));
                        }
                        e
                    })
                    .collect::<Vec<_>>()
            }),
            "attempts": self.attempts,
            "createdAt": iso_time(self.created_at),
            "sentAt": self.sent_at.map(iso_time),
        })
    }
}

const COLUMNS: &str = "id, uid, workspace_id, contact_id, enrollment_id, kind, to_address, subject, html, text, status, reason, attempts, created_at, sent_at, template_id, render_context, channel_id, envelope, channel, provider_status, history";

fn from_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        uid: r.get(1)?,
        workspace_id: r.get(2)?,
        contact_id: r.get(3)?,
        enrollment_id: r.get(4)?,
        kind: r.get(5)?,
        to_address: r.get(6)?,
        subject: r.get(7)?,
        html: r.get(8)?,
        text: r.get(9)?,
        status: r.get(10)?,
        reason: r.get(11)?,
        attempts: r.get(12)?,
        created_at: r.get(13)?,
        sent_at: r.get(14)?,
        pending_render: r
            .get::<_, Option<String>>(16)?
            .map(|context| Ok::<_, rusqlite::Error>((r.get(15)?, context)))
            .transpose()?,
        channel_id: r.get(17)?,
        envelope: r
            .get::<_, Option<String>>(18)?
            .and_then(|e| serde_json::from_str(&e).ok()),
        channel: r.get(19)?,
        provider_status: r.get(20)?,
        history: r
            .get::<_, Option<String>>(21)?
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_else(|| json!([])),
    })
}

/// Where a message comes from.
pub struct NewMessage<'a> {
    /// `email`, `sms` or `whatsapp`.
    pub channel: &'a str,
    pub contact_id: Option<i64>,
    pub enrollment_id: Option<i64>,
    pub position: Option<&'a str>,
    pub kind: &'a str,
    pub to: &'a str,
    pub content: Content<'a>,
    /// The channel it leaves by; `None` for the install's `[smtp]`.
    pub channel_id: Option<i64>,
    /// JSON of what the generic API asked for beyond the parts (bcc, fromName, …).
    pub envelope: Option<&'a str>,
}

/// What a new message carries: finished parts, or what the send job renders them from.
pub enum Content<'a> {
    Rendered(&'a RenderedEmail),
    /// Rendered by the send job, off the writer thread.
    Deferred {
        template_id: i64,
        context: String,
    },
}

/// Queues a message; at most one per enrollment step (returns `None` if it exists).
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    m: &NewMessage<'_>,
) -> Result<Option<i64>, StoreError> {
    let now = crate::store::here().now_ms();
    let empty = RenderedEmail {
        subject: String::new(),
        html: String::new(),
        text: String::new(),
    };
    let (email, template_id, context) = match &m.content {
        Content::Rendered(email) => (*email, None, None),
        Content::Deferred {
            template_id,
            context,
        } => (&empty, Some(*template_id), Some(context.as_str())),
    };
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (uid, workspace_id, contact_id, enrollment_id, position, kind, to_address, subject, html, text, status, created_at, updated_at, template_id, render_context, channel_id, envelope, channel, history)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', ?11, ?11, ?12, ?13, ?14, ?15, ?16,
                     json_array(json_object('at', ?11, 'status', 'queued')))",
        )?
        .execute(params![
            uuid::Uuid::now_v7().to_string(),
            ws,
            m.contact_id,
            m.enrollment_id,
            m.position,
            m.kind,
            m.to,
            email.subject,
            email.html,
            email.text,
            now,
            template_id,
            context,
            m.channel_id,
            m.envelope,
            m.channel
        ])?;
    let id = (n == 1).then(|| conn.last_insert_rowid());
    if let Some(id) = id {
        announce_in(conn, ws, id, "message.queued")?;
    }
    Ok(id)
}

/// Tells webhook endpoints that listen about a message's new state.
pub(crate) fn announce(conn: &Connection, id: i64, event: &str) -> Result<(), StoreError> {
    let ws: Option<WorkspaceId> = conn
        .prepare_cached("SELECT workspace_id FROM messages WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match ws {
        Some(ws) => announce_in(conn, ws, id, event),
        None => Ok(()),
    }
}

/// [`announce`] when the workspace is already known (a message just created). Endpoints
/// scoped to the message's channel hear it too.
fn announce_in(conn: &Connection, ws: WorkspaceId, id: i64, event: &str) -> Result<(), StoreError> {
    // Every send passes here several times: ask the cached subscriptions first.
    if !crate::webhooks::outbox::wants_on_any_channel(conn, ws, event)? {
        return Ok(());
    }
    let channel: Option<String> = conn
        .prepare_cached(
            "SELECT c.uid FROM messages m JOIN channels c ON c.id = m.channel_id WHERE m.id = ?1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if !crate::webhooks::outbox::wants(conn, ws, event, channel.as_deref())? {
        return Ok(());
    }
    let Some(row) = get(conn, id)? else {
        return Ok(());
    };
    let message = row.to_json();
    let about = crate::webhooks::outbox::About {
        contact_id: row.contact_id,
        channel: channel.as_deref(),
        ..Default::default()
    };
    crate::webhooks::outbox::emit(conn, ws, event, about, || json!({"message": message}))
}

/// The public id of message `id`.
pub fn uid_of(conn: &Connection, id: i64) -> Result<String, StoreError> {
    Ok(conn
        .prepare_cached("SELECT uid FROM messages WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?)
}

/// A message by internal id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<MessageRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Moves a message to a new status with an optional reason.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: MessageStatus,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let now = crate::store::here().now_ms();
    conn.prepare_cached(
        "UPDATE messages SET status = ?2, reason = ?3, updated_at = ?4,
                attempts = attempts + (CASE WHEN ?2 = 'sending' THEN 1 ELSE 0 END),
                sent_at = CASE WHEN ?2 = 'sent' THEN ?4 ELSE sent_at END,
                history = json_insert(COALESCE(history, '[]'), '$[#]',
                                      json_object('at', ?4, 'status', ?2, 'reason', ?3))
         WHERE id = ?1",
    )?
    .execute(params![id, status, reason, now])?;
    match status {
        MessageStatus::Sent => announce(conn, id, "message.sent"),
        MessageStatus::Failed => announce(conn, id, "message.failed"),
        _ => Ok(()),
    }
}

/// Stores the parts the send job rendered and moves the message to `sending`.
pub fn fill_rendered(conn: &Connection, id: i64, email: &RenderedEmail) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE messages SET subject = ?2, html = ?3, text = ?4, template_id = NULL, render_context = NULL WHERE id = ?1",
    )?
    .execute(params![id, email.subject, email.html, email.text])?;
    set_status(conn, id, MessageStatus::Sending, None)
}

/// The public id of contact `contact_id` and whether it is subscribed, if it still exists:
/// what the send job needs to honour an unsubscribe and to link to it.
pub fn recipient(conn: &Connection, contact_id: i64) -> Result<Option<(String, bool)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT uid, subscribed FROM contacts WHERE id = ?1")?
        .query_row([contact_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Records the Message-ID a sent message got.
pub fn set_message_id(conn: &Connection, id: i64, message_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE messages SET message_id = ?2 WHERE id = ?1")?
        .execute(params![id, message_id])?;
    Ok(())
}

/// Why an address must not be mailed, if it must not.
pub fn suppression(
    conn: &Connection,
    ws: WorkspaceId,
    email: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT reason FROM suppressions WHERE workspace_id = ?1 AND email = ?2")?
        .query_row(params![ws, email.to_lowercase()], |r| r.get(0))
        .optional()?)
}

/// Adds an address to the workspace's suppression list.
pub fn suppress(
    conn: &Connection,
    ws: WorkspaceId,
    email: &str,
    reason: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO suppressions (workspace_id, email, reason, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workspace_id, email) DO NOTHING",
    )?
    .execute(params![
        ws,
        email.to_lowercase(),
        reason,
        crate::store::here().now_ms()
    ])?;
    Ok(())
}

/// The workspace's messages, newest first, optionally by status.
pub fn list(
    conn: &Connection,
    ws: WorkspaceId,
    filter: &Filter<'_>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE workspace_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
           AND (?5 IS NULL OR channel = ?5)
         ORDER BY id DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![ws, filter.status, before_id, limit, filter.channel],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Which messages a list shows: of one status, of one kind of channel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Filter<'a> {
    pub status: Option<&'a str>,
    /// `email`, `sms` or `whatsapp`.
    pub channel: Option<&'a str>,
}

/// One message of the workspace by public id.
pub fn get_by_uid(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE workspace_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// Every message to a contact, oldest first: those linked to it and those sent to its
/// address before it existed (a template test, say). For data exports.
pub fn of_contact(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
    email: Option<&str>,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE workspace_id = ?1 AND contact_id = ?2
         UNION SELECT {COLUMNS} FROM messages WHERE workspace_id = ?1 AND to_address = ?3 AND contact_id IS NULL
         ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![ws, contact_id, email], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts by status for the workspace.
pub fn counts(conn: &Connection, ws: WorkspaceId) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM messages WHERE workspace_id = ?1 GROUP BY status",
    )?;
    let rows = stmt.query_map([ws], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
