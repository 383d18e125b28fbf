//! Templates as stored, per workspace.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};

use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// The text body of an SMS is at most this long (ten segments, as the generic API takes).
pub const MAX_SMS_TEXT: usize = 1600;
/// A WhatsApp text message is at most this long.
pub const MAX_WHATSAPP_TEXT: usize = 4096;

/// A template: an email (subject, HTML, text), or the text of an SMS or WhatsApp message.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: i64,
    /// `email`, `sms` or `whatsapp`: which channels and steps may send it.
    pub kind: String,
    pub uid: String,
    pub name: String,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Template {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.uid,
            "kind": self.kind,
            "name": self.name,
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
        })
    }
}

/// The editable parts of a template, already validated.
#[derive(Debug, Clone)]
pub struct TemplateInput {
    /// `email`, `sms` or `whatsapp`.
    pub kind: String,
    pub name: String,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
}

impl TemplateInput {
    /// The input as an unsaved template, for previews and trial renders.
    pub fn draft(&self) -> Template {
        Template {
            id: 0,
            kind: self.kind.clone(),
            uid: String::new(),
            name: self.name.clone(),
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: self.text.clone(),
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// Checks names, sizes, that every part is within the sandbox's limits, and that it
/// renders for the sample contact.
pub fn validate(input: &TemplateInput) -> Result<(), String> {
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        return Err("name must be 1 to 200 characters".into());
    }
    let limit = match input.kind.as_str() {
        "email" => None,
        "sms" => Some(MAX_SMS_TEXT),
        "whatsapp" => Some(MAX_WHATSAPP_TEXT),
        _ => return Err("kind must be \"email\", \"sms\" or \"whatsapp\"".into()),
    };
    if let Some(limit) = limit {
        let text = input.text.as_deref().unwrap_or("");
        if text.trim().is_empty() || text.chars().count() > limit {
            return Err(format!(
                "text must be 1 to {limit} characters for an {} template",
                input.kind
            ));
        }
        if !input.subject.is_empty() || !input.html.is_empty() {
            return Err(format!(
                "an {} template has only a text, no subject or html",
                input.kind
            ));
        }
        super::check(text, "text")?;
        return super::trial_render(&input.draft());
    }
    if input.subject.trim().is_empty() || input.subject.len() > 998 {
        return Err("subject must be 1 to 998 characters".into());
    }
    if input.html.len() > 512 * 1024 || input.text.as_ref().is_some_and(|t| t.len() > 512 * 1024) {
        return Err("a template part is larger than 512 KiB".into());
    }
    super::check(&input.subject, "subject")?;
    super::check(&input.html, "html")?;
    if let Some(text) = &input.text {
        super::check(text, "text")?;
    }
    super::trial_render(&input.draft())
}

const COLUMNS: &str = "id, uid, name, subject, html, text, created_at, updated_at, kind";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Template> {
    Ok(Template {
        id: r.get(0)?,
        uid: r.get(1)?,
        name: r.get(2)?,
        subject: r.get(3)?,
        html: r.get(4)?,
        text: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        kind: r.get(8)?,
    })
}

/// All templates of the workspace, by name.
pub fn list(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Template>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM templates WHERE workspace_id = ?1 ORDER BY name, id"
    ))?;
    let rows = stmt.query_map([ws], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One template by public id.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Option<Template>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM templates WHERE workspace_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// One template of the workspace by row id (messages waiting to be rendered keep it).
pub fn get_by_row(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
) -> Result<Option<Template>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM templates WHERE workspace_id = ?1 AND id = ?2"
        ))?
        .query_row(params![ws, id], from_row)
        .optional()?)
}

/// Creates a template.
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    input: &TemplateInput,
) -> Result<Template, StoreError> {
    let now = crate::store::here().now_ms();
    let uid = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached(
        "INSERT INTO templates (uid, workspace_id, name, subject, html, text, created_at, updated_at, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
    )?
    .execute(params![uid, ws, input.name.trim(), input.subject, input.html, input.text, now, input.kind])?;
    Ok(get(conn, ws, &uid)?.expect("just inserted"))
}

/// Replaces a template's parts; `None` if it does not exist (or is of another kind: a
/// template's kind never changes).
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    input: &TemplateInput,
) -> Result<Option<Template>, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE templates SET name = ?3, subject = ?4, html = ?5, text = ?6, updated_at = ?7
             WHERE workspace_id = ?1 AND uid = ?2 AND kind = ?8",
        )?
        .execute(params![
            ws,
            uid,
            input.name.trim(),
            input.subject,
            input.html,
            input.text,
            crate::store::here().now_ms(),
            input.kind
        ])?;
    if n == 0 { Ok(None) } else { get(conn, ws, uid) }
}

/// What uses this template: automations whose steps send it (by name), and, for the
/// double opt-in confirmation email, each double opt-in list that sends it.
pub fn used_by(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Vec<String>, StoreError> {
    let needle = format!("%\"template\":\"{uid}\"%");
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM automations WHERE workspace_id = ?1 AND definition LIKE ?2 ORDER BY name",
    )?;
    let rows = stmt.query_map(params![ws, needle], |r| r.get(0))?;
    let mut users: Vec<String> = rows.collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT l.name FROM templates t JOIN lists l ON l.workspace_id = t.workspace_id
         WHERE t.workspace_id = ?1 AND t.uid = ?2 AND t.purpose = 'confirmation'
           AND l.opt_in = 'double' ORDER BY l.name",
    )?;
    let lists = stmt.query_map(params![ws, uid], |r| r.get::<_, String>(0))?;
    for list in lists {
        users.push(format!("double opt-in list {}", list?));
    }
    Ok(users)
}

/// The purpose of a template Herald sends itself (`confirmation`), if it is one.
pub fn purpose_of(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT purpose FROM templates WHERE workspace_id = ?1 AND uid = ?2")?
        .query_row(params![ws, uid], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Deletes a template; returns whether it existed.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM templates WHERE workspace_id = ?1 AND uid = ?2")?
        .execute(params![ws, uid])?
        > 0)
}

/// What [`delete_unused`] did.
#[derive(Debug)]
pub enum Deletion {
    /// The template is gone.
    Deleted,
    /// No such template in the workspace.
    NotFound,
    /// Kept: these automations (by name) use it.
    InUse(Vec<String>),
}

/// Deletes a template unless an automation's steps still use it.
pub fn delete_unused(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Deletion, StoreError> {
    let users = used_by(conn, ws, uid)?;
    if !users.is_empty() {
        return Ok(Deletion::InUse(users));
    }
    Ok(if delete(conn, ws, uid)? {
        Deletion::Deleted
    } else {
        Deletion::NotFound
    })
}

/// The workspace's templates, each with the names of the automations that use it.
pub fn list_with_users(
    conn: &Connection,
    ws: WorkspaceId,
) -> Result<Vec<(Template, Vec<String>)>, StoreError> {
    list(conn, ws)?
        .into_iter()
        .map(|t| {
            let users = used_by(conn, ws, &t.uid)?;
            Ok((t, users))
        })
        .collect()
}

/// The workspace's template for one of Herald's own emails (`confirmation`: the double
/// opt-in email), created from `default` the first time it is needed; from then on it is
/// an ordinary template people edit on the templates page.
pub fn for_purpose(
    conn: &Connection,
    ws: WorkspaceId,
    purpose: &str,
    default: &TemplateInput,
) -> Result<Template, StoreError> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT uid FROM templates WHERE workspace_id = ?1 AND purpose = ?2")?
        .query_row(params![ws, purpose], |r| r.get(0))
        .optional()?;
    let uid = match existing {
        Some(uid) => uid,
        None => {
            let created = create(conn, ws, default)?;
            conn.prepare_cached("UPDATE templates SET purpose = ?2 WHERE id = ?1")?
                .execute(params![created.id, purpose])?;
            created.uid
        }
    };
    Ok(get(conn, ws, &uid)?.expect("found or just created"))
}
