//! The latest enrollments of an automation, a contact or a trigger, rows and parked
//! members alike, newest first, with their step history and messages (API and pages).

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::arrivals::{self, ParkedArrival};
use super::store::{self, Automation};
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// How many enrollments a listing shows.
pub const LIMIT: usize = 200;

/// Whose enrollments to list.
#[derive(Debug, Clone, Copy)]
pub enum Listing<'a> {
    Automation(&'a Automation, WorkspaceId),
    Contact(i64),
    Trigger(i64),
}

/// One enrollment as listed.
struct Entry {
    id: i64,
    automation_id: i64,
    contact_id: i64,
    state: String,
    position: String,
    error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
    wake_at: Option<i64>,
}

const ROW_COLUMNS: &str = "id, automation_id, contact_id, state, position, error, created_at, finished_at, COALESCE(wake_at, held_wake_at)";

fn row_entry(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        automation_id: r.get(1)?,
        contact_id: r.get(2)?,
        state: r.get(3)?,
        position: r.get(4)?,
        error: r.get(5)?,
        created_at: r.get(6)?,
        finished_at: r.get(7)?,
        wake_at: r.get(8)?,
    })
}

fn parked_entries(arrival: &ParkedArrival, only: Option<i64>) -> impl Iterator<Item = Entry> + '_ {
    arrival
        .parked
        .iter()
        .filter(move |m| only.is_none_or(|a| m.automation_id() == a))
        .map(|m| Entry {
            id: arrivals::enrollment_id(arrival.id, m.slot()),
            automation_id: m.automation_id(),
            contact_id: arrival.contact_id,
            state: "waiting".into(),
            position: "0".into(),
            error: None,
            created_at: arrival.created_at,
            finished_at: None,
            wake_at: Some(m.wake_at()),
        })
}

fn automation_entries(
    conn: &Connection,
    a: &Automation,
    ws: WorkspaceId,
) -> Result<Vec<Entry>, StoreError> {
    // Per state, so each read walks `enrollments_by_automation` in id order and stops.
    let mut entries: Vec<Entry> = Vec::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM enrollments WHERE automation_id = ?1 AND state = ?2 ORDER BY id DESC LIMIT ?3"
    ))?;
    for state in ["active", "waiting", "completed", "exited", "failed"] {
        let rows = stmt.query_map(params![a.id, state, LIMIT as i64], row_entry)?;
        for row in rows {
            entries.push(row?);
        }
    }
    // Parked members sit in arrivals of the occurrence the automation is triggered by.
    let mut stmt = conn.prepare_cached(
        &format!("SELECT {} FROM arrivals WHERE workspace_id = ?1 AND occurrence = ?2 AND parked IS NOT NULL ORDER BY id DESC", arrivals::PARKED_COLUMNS),
    )?;
    let mut rows = stmt.query(params![ws, arrivals::trigger_key(&a.def.trigger)])?;
    let mut parked = 0;
    while parked < LIMIT {
        let Some(r) = rows.next()? else { break };
        let arrival = arrivals::parked_row(r)?;
        for entry in parked_entries(&arrival, Some(a.id)) {
            parked += 1;
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Enrollments of the arrivals `sql` selects (newest first), until there are enough.
fn arrival_entries(conn: &Connection, sql: &str, arg: i64) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([arg])?;
    let mut in_range = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM enrollments WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC"
    ))?;
    while entries.len() < LIMIT {
        let Some(r) = rows.next()? else { break };
        let arrival = arrivals::parked_row(r)?;
        let first = arrivals::enrollment_id(arrival.id, 0);
        let last = arrivals::enrollment_id(arrival.id, arrivals::SPAN - 1);
        let rows = in_range.query_map(params![first, last], row_entry)?;
        for row in rows {
            entries.push(row?);
        }
        entries.extend(parked_entries(&arrival, None));
    }
    Ok(entries)
}

/// The latest enrollments of `listing`, as JSON with step history and messages.
pub fn enrollments_json(conn: &Connection, listing: Listing<'_>) -> Result<Vec<Value>, StoreError> {
    let mut entries = match listing {
        Listing::Automation(a, ws) => automation_entries(conn, a, ws)?,
        Listing::Contact(id) => arrival_entries(
            conn,
            "SELECT id, workspace_id, contact_id, created_at, parked FROM arrivals WHERE contact_id = ?1 ORDER BY id DESC",
            id,
        )?,
        Listing::Trigger(id) => arrival_entries(
            conn,
            "SELECT id, workspace_id, contact_id, created_at, parked FROM arrivals WHERE trigger_id = ?1 ORDER BY id DESC",
            id,
        )?,
    };
    entries.sort_by_key(|e| std::cmp::Reverse(e.id));
    entries.truncate(LIMIT);
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(automation) = store::get_by_id(conn, e.automation_id)? else {
            continue;
        };
        let contact: Option<(String, Option<String>)> = conn
            .prepare_cached("SELECT uid, email FROM contacts WHERE id = ?1")?
            .query_row([e.contact_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((contact_uid, email)) = contact else {
            continue;
        };
        let mut v = json!({
            "id": format!("enr_{}", e.id),
            "automationId": automation.uid,
            "automationName": automation.def.name,
            "contactId": contact_uid,
            "email": email,
            "state": e.state,
            "position": e.position,
            "error": e.error,
            "createdAt": iso_time(e.created_at),
            "finishedAt": e.finished_at.map(iso_time),
            "wakeAt": e.wake_at.map(iso_time),
        });
        let mut steps = conn.prepare_cached("SELECT position, step_type, outcome, detail, created_at FROM enrollment_steps WHERE enrollment_id = ?1 ORDER BY id")?;
        let history: Vec<Value> = steps
            .query_map(params![e.id], |r| {
                let detail: Option<String> = r.get(3)?;
                Ok(json!({
                    "position": r.get::<_, String>(0)?,
                    "type": r.get::<_, String>(1)?,
                    "outcome": r.get::<_, String>(2)?,
                    "detail": detail.and_then(|d| serde_json::from_str::<Value>(&d).ok()),
                    "at": iso_time(r.get(4)?),
                }))
            })?
            .collect::<Result<_, _>>()?;
        let mut messages = conn.prepare_cached("SELECT uid, position, status, reason, subject FROM messages WHERE enrollment_id = ?1 ORDER BY id")?;
        let sent: Vec<Value> = messages
            .query_map(params![e.id], |r| {
                Ok(json!({"id": r.get::<_, String>(0)?, "position": r.get::<_, Option<String>>(1)?, "status": r.get::<_, String>(2)?, "reason": r.get::<_, Option<String>>(3)?, "subject": r.get::<_, String>(4)?}))
            })?
            .collect::<Result<_, _>>()?;
        v["steps"] = json!(history);
        v["messages"] = json!(sent);
        out.push(v);
    }
    Ok(out)
}
