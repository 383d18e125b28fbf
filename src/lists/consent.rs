//! Consent records: what a contact agreed to, exactly as it was shown, with when, from
//! where (IP, user agent) and through which door (API, form, UI). Records are only added;
//! erasing the contact removes them with it.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::{ListError, Source};
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;

/// Longest consent text kept.
pub const MAX_TEXT: usize = 10_000;

/// The consent a signup carries: the text shown and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentInput {
    pub text: String,
    pub version: Option<String>,
}

impl ConsentInput {
    /// Checks the text is present and both parts fit; `field` prefixes error paths.
    pub fn validate(mut self, field: &str) -> Result<Self, ListError> {
        self.text = self.text.trim().to_string();
        if self.text.is_empty() {
            return Err(ListError::invalid(format!("{field}.text"), "is required"));
        }
        if self.text.len() > MAX_TEXT {
            return Err(ListError::invalid(
                format!("{field}.text"),
                format!("must be at most {MAX_TEXT} bytes"),
            ));
        }
        self.version = self
            .version
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        if self.version.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(ListError::invalid(
                format!("{field}.version"),
                "must be at most 200 bytes",
            ));
        }
        Ok(self)
    }
}

/// Where a signup came from, kept with its consent and memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct SignupContext {
    pub source: Source,
    /// The form's row id, for form submissions.
    pub form_id: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Stores one consent record; answers its public id.
pub fn record(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
    consent: &ConsentInput,
    context: &SignupContext,
) -> Result<String, ListError> {
    let uid = uuid::Uuid::now_v7().to_string();
    let user_agent = context
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(500).collect::<String>());
    conn.prepare_cached(
        "INSERT INTO consents (uid, workspace_id, contact_id, text, version, ip, user_agent, source, form_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        uid,
        ws,
        contact_id,
        consent.text,
        consent.version,
        context.ip,
        user_agent,
        context.source.as_str(),
        context.form_id,
        crate::store::here().now_ms()
    ])?;
    Ok(uid)
}

/// A contact's consent records, oldest first, as the API shows them.
pub fn of_contact(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<Value>, ListError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.uid, c.text, c.version, c.ip, c.user_agent, c.source, f.uid, c.created_at
         FROM consents c LEFT JOIN forms f ON f.id = c.form_id
         WHERE c.contact_id = ?1 AND c.workspace_id = ?2 ORDER BY c.id",
    )?;
    let rows = stmt.query_map(params![contact_id, ws], |r| {
        Ok(json!({
            "id": r.get::<_, String>(0)?,
            "text": r.get::<_, String>(1)?,
            "version": r.get::<_, Option<String>>(2)?,
            "ip": r.get::<_, Option<String>>(3)?,
            "userAgent": r.get::<_, Option<String>>(4)?,
            "source": r.get::<_, String>(5)?,
            "formId": r.get::<_, Option<String>>(6)?,
            "createdAt": iso_time(r.get(7)?),
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
