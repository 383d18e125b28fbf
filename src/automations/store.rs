//! Automations as stored, with a cache of parsed definitions for the ingest hot path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::definition::{Definition, Status, TriggerType};
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// A stored automation.
#[derive(Debug, Clone)]
pub struct Automation {
    pub id: i64,
    pub uid: String,
    pub def: Arc<Definition>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Enrollments of an automation by state.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    pub active: i64,
    pub waiting: i64,
    pub completed: i64,
    pub exited: i64,
    pub failed: i64,
}

impl Automation {
    pub fn to_json(&self, counts: Counts) -> Value {
        let mut v = serde_json::to_value(&*self.def).expect("definitions serialize");
        v["id"] = json!(self.uid);
        v["enrollments"] = json!(counts);
        v["createdAt"] = json!(iso_time(self.created_at));
        v["updatedAt"] = json!(iso_time(self.updated_at));
        v
    }
}

/// What ingest remembers of a store's automations so most events skip their queries;
/// one per store, in its [`crate::store::Instance`] caches.
#[derive(Default)]
struct Caches {
    /// Bumped on every automation write.
    written: std::sync::atomic::AtomicU64,
    presence: Mutex<HashMap<WorkspaceId, (u64, bool)>>,
    definitions: DefinitionCache,
    concerned: Mutex<HashMap<OccurrenceKey, Concerned>>,
}

fn caches() -> Arc<Caches> {
    crate::store::here().cache::<Caches>()
}

/// Changes whenever an automation is written or any write is rolled back (which may
/// have shown an automation that never committed to a cache filled in the same batch).
/// Takes the caches already looked up, so the hot path asks the store instance once.
fn generation(caches: &Caches) -> u64 {
    caches.written.load(std::sync::atomic::Ordering::Acquire)
        + crate::store::here().freshness().rollbacks()
}

/// Invalidates [`workspace_has_automations`] answers; called on every automation write
/// (all of which run in the single writer, like every caller of that function).
fn bump() {
    caches()
        .written
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Whether the workspace has anything an occurrence could match or exit: lets ingest skip
/// the automation queries for workspaces without automations.
pub fn workspace_has_automations(conn: &Connection, ws: WorkspaceId) -> Result<bool, StoreError> {
    let caches = caches();
    let cache = &caches.presence;
    let generation = generation(&caches);
    if let Some((at, answer)) = cache
        .lock()
        .expect("automation presence cache")
        .get(&ws)
        .copied()
        && at == generation
    {
        return Ok(answer);
    }
    let answer: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM automations WHERE workspace_id = ?1 AND status = 'active')
                 OR EXISTS (SELECT 1 FROM automation_exits WHERE workspace_id = ?1)",
        )?
        .query_row([ws], |r| r.get(0))?;
    cache
        .lock()
        .expect("automation presence cache")
        .insert(ws, (generation, answer));
    Ok(answer)
}

/// Parsed definitions by automation id, with the `updated_at` they were parsed at.
type DefinitionCache = Mutex<HashMap<i64, (i64, Arc<Definition>)>>;

fn cached(id: i64, updated_at: i64) -> Option<Arc<Definition>> {
    let caches = caches();
    let cache = caches.definitions.lock().expect("definition cache");
    cache
        .get(&id)
        .filter(|(at, _)| *at == updated_at)
        .map(|(_, def)| def.clone())
}

fn definition(conn: &Connection, id: i64, updated_at: i64) -> Result<Arc<Definition>, StoreError> {
    if let Some(def) = cached(id, updated_at) {
        return Ok(def);
    }
    let text: String = conn
        .prepare_cached("SELECT definition FROM automations WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let def: Definition = serde_json::from_str(&text)
        .map_err(|e| StoreError::Commit(format!("stored definition unreadable: {e}")))?;
    let def = Arc::new(def);
    caches()
        .definitions
        .lock()
        .expect("definition cache")
        .insert(id, (updated_at, def.clone()));
    Ok(def)
}

fn read(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Automation>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows: Vec<(i64, String, i64, i64)> = stmt
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, uid, created_at, updated_at)| {
            Ok(Automation {
                id,
                uid,
                def: definition(conn, id, updated_at)?,
                created_at,
                updated_at,
            })
        })
        .collect()
}

const COLUMNS: &str = "id, uid, created_at, updated_at";

fn write_exits_and_bump(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
    def: &Definition,
) -> Result<(), StoreError> {
    bump();
    write_exits(conn, ws, id, def)
}

fn write_exits(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
    def: &Definition,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM automation_exits WHERE automation_id = ?1")?
        .execute([id])?;
    for name in &def.exit_on {
        conn.prepare_cached("INSERT OR IGNORE INTO automation_exits (automation_id, workspace_id, event_name) VALUES (?1, ?2, ?3)")?
            .execute(params![id, ws, name])?;
    }
    Ok(())
}

/// Creates an automation from a validated definition.
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    def: &Definition,
) -> Result<Automation, StoreError> {
    let now = crate::store::here().now_ms();
    let uid = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached(
        "INSERT INTO automations (uid, workspace_id, name, status, trigger_type, trigger_event, definition, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?
    .execute(params![uid, ws, def.name, def.status.as_str(), def.trigger.kind.as_str(), def.trigger.key(), serde_json::to_string(def).expect("serializes"), now])?;
    let id = conn.last_insert_rowid();
    super::arrivals::start_tally(conn, id)?;
    write_exits_and_bump(conn, ws, id, def)?;
    Ok(get(conn, ws, &uid)?.expect("just inserted"))
}

/// Replaces an automation's definition; `None` if it does not exist.
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    def: &Definition,
) -> Result<Option<Automation>, StoreError> {
    let Some(existing) = get(conn, ws, uid)? else {
        return Ok(None);
    };
    let old_key = super::arrivals::trigger_key(&existing.def.trigger);
    if super::arrivals::trigger_key(&def.trigger) != old_key {
        super::arrivals::unpack_automation(conn, ws, existing.id, &old_key)?;
    }
    let now = crate::store::here().now_ms().max(existing.updated_at + 1);
    conn.prepare_cached(
        "UPDATE automations SET name = ?2, status = ?3, trigger_type = ?4, trigger_event = ?5, definition = ?6, updated_at = ?7 WHERE id = ?1",
    )?
    .execute(params![existing.id, def.name, def.status.as_str(), def.trigger.kind.as_str(), def.trigger.key(), serde_json::to_string(def).expect("serializes"), now])?;
    write_exits_and_bump(conn, ws, existing.id, def)?;
    let was_active = existing.def.status == Status::Active;
    match (was_active, def.status == Status::Active) {
        (true, false) => super::timers::hold(conn, existing.id)?,
        (false, true) => super::timers::release(conn, existing.id)?,
        _ => {}
    }
    get(conn, ws, uid)
}

/// Changes only the status.
pub fn set_status(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    status: Status,
) -> Result<Option<Automation>, StoreError> {
    let Some(existing) = get(conn, ws, uid)? else {
        return Ok(None);
    };
    let mut def = (*existing.def).clone();
    def.status = status;
    update(conn, ws, uid, &def)
}

/// One automation by public id.
pub fn get(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Option<Automation>, StoreError> {
    Ok(read(
        conn,
        &format!("SELECT {COLUMNS} FROM automations WHERE workspace_id = ?1 AND uid = ?2"),
        &[&ws, &uid],
    )?
    .pop())
}

/// One automation by internal id.
pub fn get_by_id(conn: &Connection, id: i64) -> Result<Option<Automation>, StoreError> {
    Ok(read(
        conn,
        &format!("SELECT {COLUMNS} FROM automations WHERE id = ?1"),
        &[&id],
    )?
    .pop())
}

/// All automations of the workspace, newest first.
pub fn list(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Automation>, StoreError> {
    read(
        conn,
        &format!("SELECT {COLUMNS} FROM automations WHERE workspace_id = ?1 ORDER BY id DESC"),
        &[&ws],
    )
}

/// Deletes an automation and its enrollments.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<bool, StoreError> {
    bump();
    Ok(conn
        .prepare_cached("DELETE FROM automations WHERE workspace_id = ?1 AND uid = ?2")?
        .execute(params![ws, uid])?
        > 0)
}

/// What an occurrence is offered to: matching automations and automations it exits.
type OccurrenceKey = (WorkspaceId, TriggerType, Option<String>);

/// The automations an occurrence enrolls in and the ones it exits.
type Concerning = (Arc<Vec<Automation>>, Arc<Vec<i64>>);

/// Per occurrence kind, the automations it concerns, as of a generation.
struct Concerned {
    generation: u64,
    matching: Arc<Vec<Automation>>,
    exiting: Arc<Vec<i64>>,
}

fn concerned(
    conn: &Connection,
    ws: WorkspaceId,
    kind: TriggerType,
    event: Option<&str>,
) -> Result<Concerning, StoreError> {
    let caches = caches();
    let cache = &caches.concerned;
    let generation = generation(&caches);
    let key = (ws, kind, event.map(String::from));
    if let Some(hit) = cache.lock().expect("automation match cache").get(&key)
        && hit.generation == generation
    {
        return Ok((hit.matching.clone(), hit.exiting.clone()));
    }
    let matching = Arc::new(read(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM automations WHERE workspace_id = ?1 AND status = 'active' AND trigger_type = ?2
             AND (?3 IS NULL OR trigger_event = ?3) ORDER BY id"
        ),
        &[&ws, &kind.as_str(), &event],
    )?);
    let exiting = Arc::new(match event {
        Some(name) => {
            let mut stmt = conn.prepare_cached(
                "SELECT automation_id FROM automation_exits WHERE workspace_id = ?1 AND event_name = ?2",
            )?;
            let rows = stmt.query_map(params![ws, name], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    });
    let mut map = cache.lock().expect("automation match cache");
    if map.len() >= 4096 {
        map.clear();
    }
    map.insert(
        key,
        Concerned {
            generation,
            matching: matching.clone(),
            exiting: exiting.clone(),
        },
    );
    Ok((matching, exiting))
}

/// Active automations whose trigger matches (cached until an automation changes).
pub fn matching(
    conn: &Connection,
    ws: WorkspaceId,
    kind: TriggerType,
    event: Option<&str>,
) -> Result<Arc<Vec<Automation>>, StoreError> {
    Ok(concerned(conn, ws, kind, event)?.0)
}

/// Ids of automations that list `event` in their exit events (cached the same way).
pub fn exiting_on(
    conn: &Connection,
    ws: WorkspaceId,
    event: &str,
) -> Result<Arc<Vec<i64>>, StoreError> {
    Ok(concerned(conn, ws, TriggerType::Event, Some(event))?.1)
}

/// Enrollment counts by state.
pub fn counts(conn: &Connection, automation_id: i64) -> Result<Counts, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, COUNT(*) FROM enrollments WHERE automation_id = ?1 GROUP BY state",
    )?;
    let mut counts = Counts::default();
    let rows = stmt.query_map([automation_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (state, n) = row?;
        match state.as_str() {
            "active" => counts.active = n,
            "waiting" => counts.waiting = n,
            "completed" => counts.completed = n,
            "exited" => counts.exited = n,
            _ => counts.failed = n,
        }
    }
    counts.waiting += super::arrivals::parked_count(conn, automation_id)?;
    Ok(counts)
}

/// Whether a contact was ever enrolled (for once-per-contact), as a row or parked.
pub fn ever_enrolled(
    conn: &Connection,
    automation_id: i64,
    contact_id: i64,
) -> Result<bool, StoreError> {
    // `+e.automation_id`: look in each arrival's rowid range, not through the automation.
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM arrivals ar WHERE ar.contact_id = ?1 AND (
                 EXISTS (SELECT 1 FROM enrollments e
                         WHERE e.id BETWEEN ar.id * 1024 AND ar.id * 1024 + 1023 AND +e.automation_id = ?2)
                 OR (ar.parked IS NOT NULL
                     AND EXISTS (SELECT 1 FROM json_each(ar.parked) j WHERE j.value ->> 1 = ?2)))
             LIMIT 1",
        )?
        .query_row(params![contact_id, automation_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The enrollments of an automation in state `active`, as `(id, workspace, wake_at)`
/// with a missing `wake_at` read as 0.
pub fn active_enrollments(
    conn: &Connection,
    automation_id: i64,
) -> Result<Vec<(i64, WorkspaceId, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, workspace_id, COALESCE(wake_at, 0) FROM enrollments WHERE automation_id = ?1 AND state = 'active'",
    )?;
    let rows = stmt.query_map([automation_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
