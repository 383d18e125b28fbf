//! Event sources and their deliveries in SQLite. Every query that starts from a caller is
//! scoped by `workspace_id`; only the public hook finds a source by its token hash.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::spec::{EventNameRule, Scheme, SourceSpec};
use crate::auth::secrets::{new_token, token_hash};
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// How many characters of the token lists show, to tell sources apart.
pub const PREFIX_CHARS: usize = 8;
/// Largest payload excerpt kept per delivery.
pub const MAX_STORED_PAYLOAD: usize = 8 * 1024;
/// Most deliveries per page.
pub const MAX_PAGE: u32 = 200;

const COLUMNS: &str = "id, uid, workspace_id, name, token_prefix, email_path, event_name, event_name_path, signature_scheme, signing_secret, enabled, created_at";

/// A stored source. The signing secret stays server-side; it is never rendered.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: i64,
    pub uid: String,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub token_prefix: String,
    pub email_path: String,
    pub event_name: EventNameRule,
    pub scheme: Scheme,
    pub signing_secret: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
}

fn source_from(r: &Row) -> rusqlite::Result<Source> {
    let fixed: Option<String> = r.get(6)?;
    let path: Option<String> = r.get(7)?;
    let scheme: String = r.get(8)?;
    Ok(Source {
        id: r.get(0)?,
        uid: r.get(1)?,
        workspace_id: r.get(2)?,
        name: r.get(3)?,
        token_prefix: r.get(4)?,
        email_path: r.get(5)?,
        event_name: match fixed {
            Some(name) => EventNameRule::Fixed(name),
            None => EventNameRule::Path(path.unwrap_or_default()),
        },
        scheme: Scheme::parse(&scheme).unwrap_or(Scheme::None),
        signing_secret: r.get(9)?,
        enabled: r.get(10)?,
        created_at: r.get(11)?,
    })
}

/// Deliveries of a source by outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub accepted: i64,
    pub skipped: i64,
    pub rejected: i64,
}

/// A fresh token and the prefix stored beside its hash.
fn fresh_token() -> (String, String) {
    let token = new_token("");
    let prefix = token[..PREFIX_CHARS].to_string();
    (token, prefix)
}

/// Creates a source; returns it with its token, which exists nowhere else afterwards.
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    spec: &SourceSpec,
) -> Result<(Source, String), StoreError> {
    let (token, prefix) = fresh_token();
    let (fixed, path) = match &spec.event_name {
        EventNameRule::Fixed(n) => (Some(n.as_str()), None),
        EventNameRule::Path(p) => (None, Some(p.as_str())),
    };
    let uid = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached(
        "INSERT INTO event_sources (uid, workspace_id, name, token_hash, token_prefix, email_path, event_name, event_name_path, signature_scheme, signing_secret, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11)",
    )?
    .execute(params![
        uid,
        ws,
        spec.name,
        token_hash(&token),
        prefix,
        spec.email_path,
        fixed,
        path,
        spec.scheme.as_str(),
        spec.signing_secret,
        crate::store::here().now_ms()
    ])?;
    let source = get(conn, ws, &uid)?.ok_or(StoreError::Integrity("source vanished".into()))?;
    Ok((source, token))
}

/// The workspace's sources, newest first, with their delivery counts.
pub fn list(conn: &Connection, ws: WorkspaceId) -> Result<Vec<(Source, Counts)>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM event_sources WHERE workspace_id = ?1 ORDER BY id DESC");
    let sources: Vec<Source> = conn
        .prepare_cached(&sql)?
        .query_map([ws], source_from)?
        .collect::<Result<_, _>>()?;
    sources
        .into_iter()
        .map(|s| {
            let counts = counts(conn, ws, s.id)?;
            Ok((s, counts))
        })
        .collect()
}

/// One source of the workspace by its public id.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Option<Source>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM event_sources WHERE workspace_id = ?1 AND uid = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![ws, uid], source_from)
        .optional()?)
}

/// The source a presented URL token opens, if any.
pub fn by_token(conn: &Connection, token: &str) -> Result<Option<Source>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM event_sources WHERE token_hash = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([token_hash(token)], source_from)
        .optional()?)
}

/// Inside a write: whether the token still opens this source, and whether it is enabled.
/// Closes the race with a rotation, deletion or disable that committed after the lookup.
pub fn still_open(conn: &Connection, id: i64, token: &str) -> Result<Option<bool>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT enabled FROM event_sources WHERE id = ?1 AND token_hash = ?2")?
        .query_row(params![id, token_hash(token)], |r| r.get(0))
        .optional()?)
}

/// Delivery counts of one source, by outcome.
pub fn counts(conn: &Connection, ws: WorkspaceId, source_id: i64) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    let mut stmt = conn.prepare_cached(
        "SELECT outcome, COUNT(*) FROM source_deliveries WHERE workspace_id = ?1 AND source_id = ?2 GROUP BY outcome",
    )?;
    let rows = stmt.query_map(params![ws, source_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (outcome, n) = row?;
        match outcome.as_str() {
            "accepted" => counts.accepted = n,
            "skipped" => counts.skipped = n,
            _ => counts.rejected = n,
        }
    }
    Ok(counts)
}

/// Enables or disables a source; `None` when the workspace has no such source.
pub fn set_enabled(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    enabled: bool,
) -> Result<Option<Source>, StoreError> {
    conn.prepare_cached(
        "UPDATE event_sources SET enabled = ?3 WHERE workspace_id = ?1 AND uid = ?2",
    )?
    .execute(params![ws, uid, enabled])?;
    get(conn, ws, uid)
}

/// Renames a source.
pub fn rename(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    name: &str,
) -> Result<Option<Source>, StoreError> {
    conn.prepare_cached("UPDATE event_sources SET name = ?3 WHERE workspace_id = ?1 AND uid = ?2")?
        .execute(params![ws, uid, name])?;
    get(conn, ws, uid)
}

/// Gives a source a new token; the old one stops working with this commit.
pub fn rotate(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Option<(Source, String)>, StoreError> {
    let (token, prefix) = fresh_token();
    let changed = conn
        .prepare_cached(
            "UPDATE event_sources SET token_hash = ?3, token_prefix = ?4 WHERE workspace_id = ?1 AND uid = ?2",
        )?
        .execute(params![ws, uid, token_hash(&token), prefix])?;
    if changed == 0 {
        return Ok(None);
    }
    Ok(get(conn, ws, uid)?.map(|s| (s, token)))
}

/// Deletes a source and (by cascade) its deliveries; false when there was none.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM event_sources WHERE workspace_id = ?1 AND uid = ?2")?
        .execute(params![ws, uid])?
        > 0)
}

/// What happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Mapped and ingested as an event.
    Accepted,
    /// Authentic but not mappable; answered 200 so the provider stops retrying.
    Skipped,
    /// Refused: bad signature, invalid JSON or a disabled source.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Skipped => "skipped",
            Outcome::Rejected => "rejected",
        }
    }
}

/// A delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub source_id: i64,
    pub workspace_id: WorkspaceId,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub email: Option<String>,
    pub event_name: Option<String>,
    pub event_id: Option<i64>,
    pub payload: String,
    /// The provider's id for this delivery, when it sends one (for spotting retries).
    pub delivery_key: Option<String>,
}

/// The body as stored: text, cut to [`MAX_STORED_PAYLOAD`] bytes on a character boundary.
pub fn payload_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_STORED_PAYLOAD {
        return text.into_owned();
    }
    let mut cut = MAX_STORED_PAYLOAD;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// Records a delivery; call in the same write as the ingest it reports.
pub fn record(conn: &Connection, d: &NewDelivery) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO source_deliveries (source_id, workspace_id, received_at, outcome, reason, email, event_name, event_id, payload, delivery_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        d.source_id,
        d.workspace_id,
        crate::store::here().now_ms(),
        d.outcome.as_str(),
        d.reason,
        d.email,
        d.event_name,
        d.event_id,
        d.payload,
        d.delivery_key
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A recorded delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub received_at: i64,
    pub outcome: String,
    pub reason: Option<String>,
    pub email: Option<String>,
    pub event_name: Option<String>,
    pub event_id: Option<i64>,
    pub payload: Option<String>,
}

/// A page of deliveries, newest first, and the cursor of the next (older) page.
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub next_cursor: Option<i64>,
}

/// Deliveries of one source, keyset-paginated on the id (ids grow with time).
pub fn deliveries(
    conn: &Connection,
    ws: WorkspaceId,
    source_id: i64,
    before: Option<i64>,
    limit: u32,
) -> Result<DeliveryPage, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, received_at, outcome, reason, email, event_name, event_id, payload
         FROM source_deliveries
         WHERE workspace_id = ?1 AND source_id = ?2 AND id < ?3
         ORDER BY id DESC LIMIT ?4",
    )?;
    let mut rows: Vec<Delivery> = stmt
        .query_map(
            params![ws, source_id, before.unwrap_or(i64::MAX), limit as i64 + 1],
            |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    received_at: r.get(1)?,
                    outcome: r.get(2)?,
                    reason: r.get(3)?,
                    email: r.get(4)?,
                    event_name: r.get(5)?,
                    event_id: r.get(6)?,
                    payload: r.get(7)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|d| d.id)
    } else {
        None
    };
    Ok(DeliveryPage {
        deliveries: rows,
        next_cursor,
    })
}

/// Whether this source already accepted a delivery with the provider's id `key`.
pub fn already_accepted(conn: &Connection, source_id: i64, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM source_deliveries
             WHERE source_id = ?1 AND delivery_key = ?2 AND delivery_key IS NOT NULL AND outcome = 'accepted'",
        )?
        .query_row(params![source_id, key], |_| Ok(()))
        .optional()?
        .is_some())
}

/// How long deliveries are kept: the log of what came in, and the memory of provider
/// delivery ids for spotting retries (providers retry for days, not weeks).
pub const DELIVERY_RETENTION_MS: i64 = 30 * 24 * 3_600_000;

/// Deletes deliveries older than `before` (Unix ms), oldest first, at most `limit` per
/// call so maintenance never holds the writer for long. Returns how many went.
pub fn prune_deliveries(conn: &Connection, before: i64, limit: usize) -> Result<usize, StoreError> {
    // Ids grow with time, so only the oldest `limit` rows need looking at.
    Ok(conn
        .prepare_cached(
            "DELETE FROM source_deliveries WHERE id IN (
                 SELECT id FROM (SELECT id, received_at FROM source_deliveries ORDER BY id LIMIT ?2)
                 WHERE received_at < ?1)",
        )?
        .execute(params![before, limit as i64])?)
}
