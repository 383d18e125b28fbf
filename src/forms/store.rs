//! Forms as stored, with their submissions, spam blocks and view counts. Every query is
//! scoped by workspace or by a form already found in one.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Definition, Form, FormError, SpamReason, Stats, Via};
use crate::kinds::WorkspaceId;
use crate::lists::store as lists;

const COLUMNS: &str = "id, uid, workspace_id, slug, name, definition, created_at, updated_at";
/// One UTC day in milliseconds: views are counted per day.
const DAY_MS: i64 = 86_400_000;

fn from_row(r: &Row<'_>) -> rusqlite::Result<Form> {
    let definition: String = r.get(5)?;
    let def = serde_json::from_str(&definition).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Form {
        id: r.get(0)?,
        uid: r.get(1)?,
        workspace_id: r.get(2)?,
        slug: r.get(3)?,
        name: r.get(4)?,
        def,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// The editable parts of a form, validated except for its lists.
#[derive(Debug, Clone, PartialEq)]
pub struct FormInput {
    pub name: String,
    /// `None`: made from the name (and kept free of clashes) when the form is created.
    pub slug: Option<String>,
    pub def: Definition,
}

impl FormInput {
    /// Checks the name and slug; the definition was checked by `Definition::validate`.
    pub fn validate(mut self) -> Result<Self, FormError> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(FormError::invalid("name", "must be 1 to 200 characters"));
        }
        self.slug = self
            .slug
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(slug) = &self.slug {
            super::definition::check_slug(slug)?;
        }
        Ok(self)
    }
}

fn slug_taken(conn: &Connection, slug: &str, except: Option<i64>) -> Result<bool, FormError> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT id FROM forms WHERE slug = ?1")?
        .query_row([slug], |r| r.get(0))
        .optional()?;
    Ok(found.is_some_and(|id| Some(id) != except))
}

/// A slug from the name that no form uses yet.
fn free_slug(conn: &Connection, name: &str) -> Result<String, FormError> {
    let base = super::definition::slugify(name);
    if !slug_taken(conn, &base, None)? {
        return Ok(base);
    }
    for n in 2..50 {
        let candidate = format!("{base}-{n}");
        if !slug_taken(conn, &candidate, None)? {
            return Ok(candidate);
        }
    }
    let random: String = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    Ok(format!("{base}-{random}"))
}

/// Checks the lists are the workspace's and that the slug is free; declares the event
/// name as a pattern, so the automation editor offers it as a trigger.
fn prepare(
    conn: &Connection,
    ws: WorkspaceId,
    input: &FormInput,
    except: Option<i64>,
) -> Result<String, FormError> {
    lists::resolve(conn, ws, &input.def.list_ids, "listIds")?;
    let slug = match &input.slug {
        Some(slug) if slug_taken(conn, slug, except)? => {
            return Err(FormError::Conflict(format!(
                "The address /f/{slug} is taken by another form; choose another slug"
            )));
        }
        Some(slug) => slug.clone(),
        None => free_slug(conn, &input.name)?,
    };
    crate::events::patterns::declare(conn, ws, &input.def.event_name)?;
    Ok(slug)
}

fn definition_json(def: &Definition) -> Result<String, FormError> {
    serde_json::to_string(def).map_err(|e| FormError::invalid("definition", e.to_string()))
}

/// Creates a form.
pub fn create(conn: &Connection, ws: WorkspaceId, input: &FormInput) -> Result<Form, FormError> {
    let slug = prepare(conn, ws, input, None)?;
    let now = crate::store::here().now_ms();
    let uid = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached(
        "INSERT INTO forms (uid, workspace_id, slug, name, definition, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        uid,
        ws,
        slug,
        input.name,
        definition_json(&input.def)?,
        now
    ])?;
    get(conn, ws, &uid)?.ok_or(FormError::NotFound)
}

/// Replaces a form's editable parts; a form keeps its slug unless a new one is given.
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    input: &FormInput,
) -> Result<Form, FormError> {
    let current = get(conn, ws, uid)?.ok_or(FormError::NotFound)?;
    let mut input = input.clone();
    input.slug = Some(input.slug.unwrap_or(current.slug));
    let slug = prepare(conn, ws, &input, Some(current.id))?;
    conn.prepare_cached(
        "UPDATE forms SET slug = ?2, name = ?3, definition = ?4, updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![
        current.id,
        slug,
        input.name,
        definition_json(&input.def)?,
        crate::store::here().now_ms()
    ])?;
    get(conn, ws, uid)?.ok_or(FormError::NotFound)
}

/// Deletes a form with its submissions, spam blocks and views; contacts, their consent
/// records and memberships stay.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Form, FormError> {
    let form = get(conn, ws, uid)?.ok_or(FormError::NotFound)?;
    conn.prepare_cached("DELETE FROM forms WHERE id = ?1")?
        .execute([form.id])?;
    Ok(form)
}

/// The form with this public id in the workspace.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Option<Form>, FormError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM forms WHERE workspace_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// The form at `/f/{slug}`, whatever its workspace: the public endpoint's lookup.
pub fn by_slug(conn: &Connection, slug: &str) -> Result<Option<Form>, FormError> {
    if slug.len() > 64 {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM forms WHERE slug = ?1"))?
        .query_row([slug], from_row)
        .optional()?)
}

/// Every form of the workspace, newest first.
pub fn all(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Form>, FormError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM forms WHERE workspace_id = ?1 ORDER BY id DESC"
    ))?;
    let rows = stmt.query_map([ws], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts one view of the form today.
pub fn record_view(conn: &Connection, form_id: i64, kind: &str) -> Result<(), FormError> {
    let day = crate::store::here().now_ms().div_euclid(DAY_MS);
    conn.prepare_cached(
        "INSERT INTO form_views (form_id, day, kind, views) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (form_id, day, kind) DO UPDATE SET views = views + 1",
    )?
    .execute(params![form_id, day, kind])?;
    Ok(())
}

/// Keeps one refused submission.
pub fn record_spam(
    conn: &Connection,
    form_id: i64,
    reason: SpamReason,
    ip: Option<&str>,
) -> Result<(), FormError> {
    conn.prepare_cached(
        "INSERT INTO form_spam (form_id, reason, ip, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        form_id,
        reason.as_str(),
        ip,
        crate::store::here().now_ms()
    ])?;
    Ok(())
}

/// Keeps one accepted submission.
pub fn record_submission(
    conn: &Connection,
    form_id: i64,
    contact_id: i64,
    ip: Option<&str>,
    via: Via,
) -> Result<(), FormError> {
    conn.prepare_cached(
        "INSERT INTO form_submissions (form_id, contact_id, ip, via, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        form_id,
        contact_id,
        ip,
        via.as_str(),
        crate::store::here().now_ms()
    ])?;
    Ok(())
}

/// Views, submissions by door and spam by reason, over the form's whole life.
pub fn stats(conn: &Connection, form_id: i64) -> Result<Stats, FormError> {
    let mut stats = Stats::default();
    let mut views = conn.prepare_cached(
        "SELECT kind, SUM(views) FROM form_views WHERE form_id = ?1 GROUP BY kind",
    )?;
    for row in views.query_map([form_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        match row? {
            (k, n) if k == "hosted" => stats.hosted_views = n,
            (_, n) => stats.script_views = n,
        }
    }
    let mut submissions = conn.prepare_cached(
        "SELECT via, COUNT(*) FROM form_submissions WHERE form_id = ?1 GROUP BY via",
    )?;
    for row in submissions.query_map([form_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        match row? {
            (v, n) if v == "hosted" => stats.hosted_submissions = n,
            (v, n) if v == "embed" => stats.embed_submissions = n,
            (_, n) => stats.direct_submissions += n,
        }
    }
    let mut spam = conn.prepare_cached(
        "SELECT reason, COUNT(*) FROM form_spam WHERE form_id = ?1 GROUP BY reason",
    )?;
    for row in spam.query_map([form_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        match row? {
            (r, n) if r == "honeypot" => stats.honeypot = n,
            (r, n) if r == "too_fast" => stats.too_fast = n,
            (_, n) => stats.rate_limited += n,
        }
    }
    Ok(stats)
}

/// One accepted submission as the form page lists it.
#[derive(Debug, Clone)]
pub struct SubmissionRow {
    pub contact_uid: Option<String>,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub via: String,
    pub created_at: i64,
}

/// The form's latest submissions, newest first.
pub fn recent_submissions(
    conn: &Connection,
    form_id: i64,
    limit: u32,
) -> Result<Vec<SubmissionRow>, FormError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.uid, c.email, s.ip, s.via, s.created_at
         FROM form_submissions s LEFT JOIN contacts c ON c.id = s.contact_id
         WHERE s.form_id = ?1 ORDER BY s.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![form_id, limit], |r| {
        Ok(SubmissionRow {
            contact_uid: r.get(0)?,
            email: r.get(1)?,
            ip: r.get(2)?,
            via: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every form submission of a contact, oldest first, for its data export.
pub fn submissions_of(
    conn: &Connection,
    ws: WorkspaceId,
    contact_id: i64,
) -> Result<Vec<serde_json::Value>, FormError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.uid, f.name, s.ip, s.via, s.created_at
         FROM form_submissions s JOIN forms f ON f.id = s.form_id
         WHERE s.contact_id = ?1 AND f.workspace_id = ?2 ORDER BY s.id",
    )?;
    let rows = stmt.query_map(params![contact_id, ws], |r| {
        Ok(serde_json::json!({
            "formId": r.get::<_, String>(0)?,
            "formName": r.get::<_, String>(1)?,
            "ip": r.get::<_, Option<String>>(2)?,
            "via": r.get::<_, String>(3)?,
            "createdAt": crate::kinds::time::iso_time(r.get(4)?),
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One refused submission as the form page lists it.
#[derive(Debug, Clone)]
pub struct SpamRow {
    pub reason: String,
    pub ip: Option<String>,
    pub created_at: i64,
}

/// The form's latest spam blocks, newest first.
pub fn recent_spam(conn: &Connection, form_id: i64, limit: u32) -> Result<Vec<SpamRow>, FormError> {
    let mut stmt = conn.prepare_cached(
        "SELECT reason, ip, created_at FROM form_spam WHERE form_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![form_id, limit], |r| {
        Ok(SpamRow {
            reason: r.get(0)?,
            ip: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
