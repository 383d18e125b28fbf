//! Arrivals: the occurrence that enrolled a contact. An arrival holds once what the
//! enrollments of one occurrence share (contact, trigger, context); enrollment `k` of
//! arrival `a` has id `a * SPAN + k`, so an arrival's enrollments are a rowid range.
//!
//! Enrollments whose first step is a wait stay packed in their arrival ("parked") until
//! they wake, are exited, or their automation's trigger changes; only then do they become
//! enrollment rows, under the id they were given at enrollment. An event that enrolls a
//! contact in five automations so writes one row instead of five indexed ones. Parked
//! members are counted per automation in `parked_tally`, added up once per committed
//! batch by [`count_new`].

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::definition::{Status, Trigger, TriggerType};
use super::store;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// Enrollment ids each arrival owns. SQL spells it as the literal `1024` (rowid ranges
/// `ar.id * 1024 ...`, the `arrivals_take_enrollments` trigger, migration V6): change
/// them together, with a migration.
pub const SPAN: i64 = 1024;

/// The id of enrollment `k` of `arrival`.
pub fn enrollment_id(arrival: i64, k: i64) -> i64 {
    arrival * SPAN + k
}

/// The arrival an enrollment belongs to.
pub fn arrival_of(enrollment_id: i64) -> i64 {
    enrollment_id.div_euclid(SPAN)
}

/// An enrollment parked at its first wait: its slot in the arrival, automation and wake time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked(pub i64, pub i64, pub i64);

impl Parked {
    pub fn slot(&self) -> i64 {
        self.0
    }
    pub fn automation_id(&self) -> i64 {
        self.1
    }
    pub fn wake_at(&self) -> i64 {
        self.2
    }
}

/// What arrived, in the terms of an automation trigger (the `occurrence` column).
pub fn occurrence_key(kind: TriggerType, event: Option<&str>) -> String {
    match (kind, event) {
        (TriggerType::Event, Some(name)) => format!("event:{name}"),
        (kind, _) => kind.as_str().to_string(),
    }
}

/// The occurrence key an automation's trigger matches.
pub fn trigger_key(trigger: &Trigger) -> String {
    occurrence_key(trigger.kind, trigger.key())
}

/// The arrival of enrollments started directly (`POST /api/v1/workflows/trigger`).
pub const DIRECT: &str = "direct";

/// What a new arrival records.
pub struct NewArrival<'a> {
    pub ws: WorkspaceId,
    pub contact_id: i64,
    pub trigger_id: Option<i64>,
    pub occurrence: &'a str,
    pub context: &'a str,
    pub created_at: i64,
}

/// Writes an arrival with its parked members (if any); returns its id, never one used
/// before (see the `arrivals` migration).
pub fn insert(conn: &Connection, new: &NewArrival, parked: &[Parked]) -> Result<i64, StoreError> {
    let (parked_json, wake) = encode(parked);
    conn.prepare_cached(
        "INSERT INTO arrivals (id, workspace_id, contact_id, trigger_id, occurrence, context, created_at, parked, wake_at)
         VALUES (MAX(COALESCE((SELECT MAX(id) FROM arrivals), 0), (SELECT through FROM parked_tally_mark WHERE id = 1)) + 1,
                 ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        new.ws,
        new.contact_id,
        new.trigger_id,
        new.occurrence,
        new.context,
        new.created_at,
        parked_json,
        wake
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Replaces an arrival's parked members.
pub fn set_parked(conn: &Connection, arrival: i64, parked: &[Parked]) -> Result<(), StoreError> {
    let (parked_json, wake) = encode(parked);
    conn.prepare_cached("UPDATE arrivals SET parked = ?2, wake_at = ?3 WHERE id = ?1")?
        .execute(params![arrival, parked_json, wake])?;
    Ok(())
}

fn encode(parked: &[Parked]) -> (Option<String>, Option<i64>) {
    if parked.is_empty() {
        return (None, None);
    }
    let json = serde_json::to_string(parked).expect("parked members serialize");
    (Some(json), parked.iter().map(Parked::wake_at).min())
}

/// Reads a `parked` column; an unreadable one counts as empty.
pub fn decode(parked: Option<&str>) -> Vec<Parked> {
    parked
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default()
}

/// An arrival with members still parked.
#[derive(Debug, Clone)]
pub struct ParkedArrival {
    pub id: i64,
    pub ws: WorkspaceId,
    pub contact_id: i64,
    pub created_at: i64,
    pub parked: Vec<Parked>,
}

/// The columns [`parked_row`] reads, in order.
pub const PARKED_COLUMNS: &str = "id, workspace_id, contact_id, created_at, parked";

/// Reads an arrival selected with [`PARKED_COLUMNS`].
pub fn parked_row(r: &rusqlite::Row) -> rusqlite::Result<ParkedArrival> {
    let parked: Option<String> = r.get(4)?;
    Ok(ParkedArrival {
        id: r.get(0)?,
        ws: r.get(1)?,
        contact_id: r.get(2)?,
        created_at: r.get(3)?,
        parked: decode(parked.as_deref()),
    })
}

/// Arrivals with members due by `now`, earliest first.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<ParkedArrival>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PARKED_COLUMNS} FROM arrivals WHERE parked IS NOT NULL AND wake_at <= ?1 ORDER BY wake_at LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now, limit as i64], parked_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The earliest wake time of any parked member.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MIN(wake_at) FROM arrivals WHERE parked IS NOT NULL")?
        .query_row([], |r| r.get(0))?)
}

/// The contact's arrivals that still have parked members, newest first.
pub fn parked_of_contact(
    conn: &Connection,
    contact_id: i64,
) -> Result<Vec<ParkedArrival>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PARKED_COLUMNS} FROM arrivals WHERE contact_id = ?1 AND parked IS NOT NULL ORDER BY id DESC"
    ))?;
    let rows = stmt.query_map([contact_id], parked_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How an unpacked member becomes a row.
#[derive(Debug, Clone, Copy)]
pub enum Unpack<'a> {
    /// Waiting, with its wake time (held if its automation is not active).
    Waiting,
    /// Exited by an event before it woke.
    Exited { reason: &'a str },
}

/// Turns the members of `arrival` that `take` selects into enrollment rows, keeps the
/// others parked, and takes them off the tally. Members of deleted automations are
/// dropped. Returns the rows written as `(enrollment id, automation id)`.
pub fn unpack(
    conn: &Connection,
    arrival: &ParkedArrival,
    take: impl Fn(&Parked) -> bool,
    how: Unpack<'_>,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let (taken, kept): (Vec<Parked>, Vec<Parked>) = arrival.parked.iter().partition(|m| take(m));
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let now = crate::store::here().now_ms();
    let mut written = Vec::with_capacity(taken.len());
    for member in &taken {
        let Some(automation) = store::get_by_id(conn, member.automation_id())? else {
            continue;
        };
        let id = enrollment_id(arrival.id, member.slot());
        let (state, wake, held, finished, error) = match how {
            Unpack::Waiting if automation.def.status == Status::Active => {
                ("waiting", Some(member.wake_at()), None, None, None)
            }
            Unpack::Waiting => ("waiting", None, Some(member.wake_at()), None, None),
            Unpack::Exited { reason } => ("exited", None, None, Some(now), Some(reason)),
        };
        // OR IGNORE: a member that somehow became a row already must not stall the timer
        // queue (the unpacking write would fail, and be retried, forever).
        let inserted = conn.prepare_cached(
            "INSERT OR IGNORE INTO enrollments (id, workspace_id, automation_id, contact_id, state, position, wake_at, held_wake_at, error, created_at, updated_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, '0', ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            id,
            arrival.ws,
            member.automation_id(),
            arrival.contact_id,
            state,
            wake,
            held,
            error,
            arrival.created_at,
            now,
            finished
        ])?;
        if inserted == 0 {
            tracing::warn!(enrollment = id, "a parked enrollment was already a row");
            continue;
        }
        written.push((id, member.automation_id()));
    }
    set_parked(conn, arrival.id, &kept)?;
    if arrival.id <= counted_through(conn)? {
        let mut gone: HashMap<i64, i64> = HashMap::new();
        for member in &taken {
            *gone.entry(member.automation_id()).or_default() += 1;
        }
        for (automation_id, n) in gone {
            conn.prepare_cached(
                "UPDATE parked_tally SET parked = parked - ?2 WHERE automation_id = ?1",
            )?
            .execute(params![automation_id, n])?;
        }
    }
    Ok(written)
}

/// Unpacks every parked member of an automation whose trigger is about to change from
/// `old_key`, so they stay listed with it (parked members are found by trigger).
pub fn unpack_automation(
    conn: &Connection,
    ws: WorkspaceId,
    automation_id: i64,
    old_key: &str,
) -> Result<(), StoreError> {
    let arrivals: Vec<ParkedArrival> = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {PARKED_COLUMNS} FROM arrivals WHERE workspace_id = ?1 AND occurrence = ?2 AND parked IS NOT NULL"
        ))?;
        let rows = stmt.query_map(params![ws, old_key], parked_row)?;
        rows.collect::<Result<_, _>>()?
    };
    for arrival in &arrivals {
        unpack(
            conn,
            arrival,
            |m| m.automation_id() == automation_id,
            Unpack::Waiting,
        )?;
    }
    Ok(())
}

/// The last arrival whose parked members are in `parked_tally`.
fn counted_through(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT through FROM parked_tally_mark WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Adds the parked members of arrivals written since the last call to `parked_tally`.
/// The writer calls it once before each commit, so the hot path pays one row per event
/// and the tally a few updates per batch. A commit made without it (another process)
/// is caught up at the next call, and readers add what is not counted yet.
pub fn count_new(conn: &Connection) -> Result<(), StoreError> {
    let through = counted_through(conn)?;
    let newest: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM arrivals")?
        .query_row([], |r| r.get(0))?;
    if newest <= through {
        return Ok(());
    }
    // Decoded here rather than with SQLite's JSON functions, which cost several times more.
    let mut added: HashMap<i64, i64> = HashMap::new();
    {
        let mut stmt = conn
            .prepare_cached("SELECT parked FROM arrivals WHERE id > ?1 AND parked IS NOT NULL")?;
        let mut rows = stmt.query([through])?;
        while let Some(r) = rows.next()? {
            for member in decode(r.get_ref(0)?.as_str_or_null().ok().flatten()) {
                *added.entry(member.automation_id()).or_default() += 1;
            }
        }
    }
    for (automation_id, n) in added {
        conn.prepare_cached(
            "UPDATE parked_tally SET parked = parked + ?2 WHERE automation_id = ?1",
        )?
        .execute(params![automation_id, n])?;
    }
    conn.prepare_cached(
        "INSERT INTO parked_tally_mark (id, through) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET through = excluded.through",
    )?
    .execute([newest])?;
    Ok(())
}

/// How many members of an automation are parked (counted and not yet counted).
pub fn parked_count(conn: &Connection, automation_id: i64) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE((SELECT parked FROM parked_tally WHERE automation_id = ?1), 0)
                  + (SELECT COUNT(*) FROM arrivals ar, json_each(ar.parked) j
                     WHERE ar.id > (SELECT through FROM parked_tally_mark WHERE id = 1)
                       AND ar.parked IS NOT NULL AND j.value ->> 1 = ?1)",
        )?
        .query_row([automation_id], |r| r.get(0))?)
}

/// Starts an automation's tally (at creation).
pub fn start_tally(conn: &Connection, automation_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO parked_tally (automation_id) VALUES (?1)")?
        .execute([automation_id])?;
    Ok(())
}
