//! The event log: filter by name, contact email and time range; newest first; keyset
//! pagination on `(created_at, id)` so pages stay fast however deep.

use rusqlite::{Connection, ToSql};
use serde_json::{Value, json};

use crate::kinds::WorkspaceId;
use crate::kinds::time::{iso_time, parse_time};
use crate::store::StoreError;

/// Most events per page.
pub const MAX_LIMIT: u32 = 200;

/// A parsed log query.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub event_name: Option<String>,
    pub email: Option<String>,
    /// One contact's events by row id (a contact may have no email).
    pub contact_id: Option<i64>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub cursor: Option<(i64, i64)>,
    pub limit: u32,
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// Parses a `from` / `to` bound; a bare date as `to` covers that whole day.
fn bound(raw: Option<&str>, what: &str, end_of_day: bool) -> Result<Option<i64>, String> {
    let Some(value) = nonempty(raw) else {
        return Ok(None);
    };
    let ms =
        parse_time(&value).ok_or_else(|| format!("{what} must be an ISO 8601 date or time"))?;
    let bare_date = value.len() == 10;
    Ok(Some(if end_of_day && bare_date {
        ms + 86_400_000 - 1
    } else {
        ms
    }))
}

impl Filter {
    /// Validates the query parameters; errors are messages for a 400.
    pub fn parse(
        event_name: Option<&str>,
        email: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Filter, String> {
        let cursor = match nonempty(cursor) {
            None => None,
            Some(c) => {
                let invalid = || "cursor is not valid".to_string();
                let (t, id) = c.split_once('_').ok_or_else(invalid)?;
                Some((
                    t.parse().map_err(|_| invalid())?,
                    id.parse().map_err(|_| invalid())?,
                ))
            }
        };
        let limit = limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!("limit must be between 1 and {MAX_LIMIT}"));
        }
        Ok(Filter {
            event_name: nonempty(event_name),
            email: nonempty(email).map(|e| e.to_lowercase()),
            contact_id: None,
            from: bound(from, "from", false)?,
            to: bound(to, "to", true)?,
            cursor,
            limit,
        })
    }
}

/// One logged event.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub contact_uid: String,
    pub properties: Value,
    pub source: String,
    pub source_detail: Option<Value>,
    pub created_at: i64,
    pub declared: bool,
}

impl LoggedEvent {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "eventName": self.name,
            "email": self.email,
            "contactId": self.contact_uid,
            "properties": self.properties,
            "source": self.source,
            "sourceDetail": self.source_detail,
            "declared": self.declared,
            "createdAt": iso_time(self.created_at),
        })
    }
}

/// A page of the log and the cursor of the next one.
pub struct LogPage {
    pub events: Vec<LoggedEvent>,
    pub next_cursor: Option<String>,
}

type Clauses = (Vec<String>, Vec<Box<dyn ToSql>>);

/// The WHERE clauses of a log query and their arguments; `None` when nothing can match.
fn clauses(
    conn: &Connection,
    ws: WorkspaceId,
    filter: &Filter,
) -> Result<Option<Clauses>, StoreError> {
    let mut clauses = vec!["e.workspace_id = ?".to_string()];
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(ws)];
    if let Some(email) = &filter.email {
        let contact: Option<i64> = conn
            .prepare_cached("SELECT id FROM contacts WHERE workspace_id = ?1 AND email = ?2")?
            .query_row(rusqlite::params![ws, email], |r| r.get(0))
            .ok();
        let Some(id) = contact else {
            return Ok(None);
        };
        clauses.push("e.contact_id = ?".into());
        args.push(Box::new(id));
    }
    if let Some(id) = filter.contact_id {
        clauses.push("e.contact_id = ?".into());
        args.push(Box::new(id));
    }
    if let Some(name) = &filter.event_name {
        clauses.push("e.name = ?".into());
        args.push(Box::new(name.clone()));
    }
    if let Some(from) = filter.from {
        clauses.push("e.created_at >= ?".into());
        args.push(Box::new(from));
    }
    if let Some(to) = filter.to {
        clauses.push("e.created_at <= ?".into());
        args.push(Box::new(to));
    }
    if let Some((t, id)) = filter.cursor {
        clauses.push("(e.created_at, e.id) < (?, ?)".into());
        args.push(Box::new(t));
        args.push(Box::new(id));
    }
    Ok(Some((clauses, args)))
}

/// Runs a log query for one workspace.
pub fn query(conn: &Connection, ws: WorkspaceId, filter: &Filter) -> Result<LogPage, StoreError> {
    let Some((clauses, mut args)) = clauses(conn, ws, filter)? else {
        return Ok(LogPage {
            events: Vec::new(),
            next_cursor: None,
        });
    };
    args.push(Box::new(filter.limit as i64 + 1));
    let sql = format!(
        "SELECT e.id, e.name, c.email, c.uid, e.properties, e.source, e.source_detail, e.created_at,
                EXISTS (SELECT 1 FROM event_patterns p WHERE p.workspace_id = e.workspace_id AND p.name = e.name)
         FROM events e JOIN contacts c ON c.id = e.contact_id
         WHERE {} ORDER BY e.created_at DESC, e.id DESC LIMIT ?",
        clauses.join(" AND ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let mut events: Vec<LoggedEvent> = stmt
        .query_map(params.as_slice(), |r| {
            let properties: String = r.get(4)?;
            let detail: Option<String> = r.get(6)?;
            let name: String = r.get(1)?;
            let system =
                name == super::ingest::CONTACT_ADDED || name == super::ingest::CONTACT_UPDATED;
            Ok(LoggedEvent {
                id: r.get(0)?,
                name,
                email: r.get(2)?,
                contact_uid: r.get(3)?,
                properties: serde_json::from_str(&properties).unwrap_or(Value::Null),
                source: r.get(5)?,
                source_detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                created_at: r.get(7)?,
                declared: system || r.get::<_, bool>(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let next_cursor = if events.len() > filter.limit as usize {
        events.truncate(filter.limit as usize);
        events.last().map(|e| format!("{}_{}", e.created_at, e.id))
    } else {
        None
    };
    Ok(LogPage {
        events,
        next_cursor,
    })
}
