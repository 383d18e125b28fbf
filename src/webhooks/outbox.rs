//! The outbox: what happened, written inside the transaction that made it happen, for the
//! endpoints that subscribe to it.
//!
//! Ingest runs [`emit`] for every event, so the question "does any endpoint of this
//! workspace want this?" is answered from memory: each store keeps the workspace's
//! subscriptions (patterns and scope of every endpoint, active or disabled, so a disabled
//! endpoint catches up when enabled again), refilled after any endpoint write or rolled
//! back batch, like the automation caches. A message nobody subscribes to is not written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::json;

use super::catalogue::covers;
use crate::jobs::scheduler::{Queue, note};
use crate::kinds::WorkspaceId;
use crate::kinds::time::iso_time;
use crate::store::StoreError;

/// One endpoint's subscription as the outbox needs it.
#[derive(Debug, Clone)]
struct Subscription {
    events: Vec<String>,
    channel: Option<String>,
}

impl Subscription {
    fn wants(&self, event: &str, channel: Option<&str>) -> bool {
        let in_scope = match &self.channel {
            None => true,
            Some(c) => channel == Some(c.as_str()),
        };
        in_scope && self.events.iter().any(|p| covers(p, event))
    }
}

/// A workspace's subscriptions with the generation they were read at.
type Cached = (u64, Arc<Vec<Subscription>>);

#[derive(Default)]
struct Cache {
    written: AtomicU64,
    by_workspace: Mutex<HashMap<WorkspaceId, Cached>>,
}

fn cache() -> Arc<Cache> {
    crate::store::here().cache::<Cache>()
}

fn generation(cache: &Cache) -> u64 {
    cache.written.load(Ordering::Acquire) + crate::store::here().freshness().rollbacks()
}

/// Forgets the cached subscriptions; called by every endpoint write (all in the writer).
pub fn subscriptions_changed() {
    cache().written.fetch_add(1, Ordering::AcqRel);
}

fn subscriptions(conn: &Connection, ws: WorkspaceId) -> Result<Arc<Vec<Subscription>>, StoreError> {
    let cache = cache();
    let at = generation(&cache);
    if let Some((g, subs)) = cache.by_workspace.lock().expect("webhook cache").get(&ws)
        && *g == at
    {
        return Ok(subs.clone());
    }
    let mut stmt = conn
        .prepare_cached("SELECT events, channel FROM webhook_endpoints WHERE workspace_id = ?1")?;
    let subs: Vec<Subscription> = stmt
        .query_map([ws], |r| {
            let events: String = r.get(0)?;
            Ok(Subscription {
                events: serde_json::from_str(&events).unwrap_or_default(),
                channel: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let subs = Arc::new(subs);
    cache
        .by_workspace
        .lock()
        .expect("webhook cache")
        .insert(ws, (at, subs.clone()));
    Ok(subs)
}

/// Whether some endpoint of the workspace subscribes to `event`: lets a caller skip
/// building a payload that costs reads.
pub fn wants(
    conn: &Connection,
    ws: WorkspaceId,
    event: &str,
    channel: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(subscriptions(conn, ws)?
        .iter()
        .any(|s| s.wants(event, channel)))
}

/// Whether some endpoint of the workspace subscribes to `event` on any channel: lets a
/// caller skip finding out which channel something happened on when nobody listens.
pub fn wants_on_any_channel(
    conn: &Connection,
    ws: WorkspaceId,
    event: &str,
) -> Result<bool, StoreError> {
    Ok(subscriptions(conn, ws)?
        .iter()
        .any(|s| s.events.iter().any(|p| covers(p, event))))
}

/// What an outbox message is about, besides its workspace.
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    /// The contact it concerns: erasing the contact erases the message.
    pub contact_id: Option<i64>,
    /// The event row it stems from, if any; it stands in for the contact (erasing a
    /// contact erases its events), so the outbox needs no index by contact for it.
    pub event_id: Option<i64>,
    /// The channel it happened on; channel-scoped endpoints hear only their own.
    pub channel: Option<&'a str>,
}

impl About<'_> {
    /// A message about one contact, on no channel.
    pub fn contact(id: i64) -> Self {
        About {
            contact_id: Some(id),
            ..Default::default()
        }
    }

    /// A message about what event row `event_id` (of some contact) records.
    pub fn event(event_id: i64) -> Self {
        About {
            event_id: Some(event_id),
            ..Default::default()
        }
    }
}

/// Writes `event` to the outbox if some endpoint of the workspace subscribes to it;
/// call inside the write that made it happen. The payload is built only when someone
/// listens: ingest calls this for every event.
pub fn emit<P: Serialize>(
    conn: &Connection,
    ws: WorkspaceId,
    event: &str,
    about: About<'_>,
    payload: impl FnOnce() -> P,
) -> Result<(), StoreError> {
    let subs = subscriptions(conn, ws)?;
    if !subs.iter().any(|s| s.wants(event, about.channel)) {
        return Ok(());
    }
    insert(conn, ws, event, about, None, payload())
}

/// Writes a `webhook.test` message for one endpoint only.
pub fn emit_test(
    conn: &Connection,
    ws: WorkspaceId,
    endpoint_id: i64,
    endpoint_uid: &str,
) -> Result<(), StoreError> {
    let payload = json!({
        "endpointId": endpoint_uid,
        "message": "A test event from Herald: if you can read this, the endpoint works.",
    });
    insert(
        conn,
        ws,
        "webhook.test",
        About::default(),
        Some(endpoint_id),
        payload,
    )
}

/// The body every delivery of a message sends (seed 000's shape).
#[derive(Serialize)]
struct Body<'a, P> {
    event: &'a str,
    payload: P,
    timestamp: String,
}

fn insert<P: Serialize>(
    conn: &Connection,
    ws: WorkspaceId,
    event: &str,
    about: About<'_>,
    only: Option<i64>,
    payload: P,
) -> Result<(), StoreError> {
    let now = crate::store::here().now_ms();
    let uid = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let body = serde_json::to_string(&Body {
        event,
        payload,
        timestamp: iso_time(now),
    })
    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    // Tied to its event row, the message names no contact (see `About::event_id`).
    let contact_id = about.contact_id.filter(|_| about.event_id.is_none());
    conn.prepare_cached(
        "INSERT INTO webhook_messages (uid, workspace_id, event_type, channel, only_endpoint, event_id, contact_id, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![uid, ws, event, about.channel, only, about.event_id, contact_id, body, now])?;
    note(Queue::Webhooks);
    Ok(())
}

/// One outbox message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub uid: String,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
}

/// The next messages past `cursor` that the endpoint subscribes to, and the last id
/// looked at (the new cursor, even when none of them were for this endpoint).
pub fn next_for(
    conn: &Connection,
    endpoint: &super::Endpoint,
    limit: usize,
) -> Result<(Vec<Message>, Option<i64>), StoreError> {
    let sub = Subscription {
        events: endpoint.events.clone(),
        channel: endpoint.channel.clone(),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, uid, event_type, channel, only_endpoint, body, created_at FROM webhook_messages
         WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let mut last = None;
    let mut out = Vec::new();
    let rows = stmt.query_map(
        params![endpoint.workspace_id, endpoint.cursor, limit as i64],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ))
        },
    )?;
    for row in rows {
        let (id, uid, event_type, channel, only, body, created_at) = row?;
        last = Some(id);
        let wanted = match only {
            Some(target) => target == endpoint.id,
            None => sub.wants(&event_type, channel.as_deref()),
        };
        if wanted {
            out.push(Message {
                id,
                uid,
                event_type,
                body,
                created_at,
            });
        }
    }
    Ok((out, last))
}

/// How many messages past the endpoint's cursor it subscribes to, looking at no more than
/// `limit` of them: the first attempts still to make (a disabled endpoint's backlog,
/// which it catches up on when enabled). The answer is `limit` at most.
pub fn waiting_for(
    conn: &Connection,
    endpoint: &super::Endpoint,
    limit: usize,
) -> Result<usize, StoreError> {
    let sub = Subscription {
        events: endpoint.events.clone(),
        channel: endpoint.channel.clone(),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT event_type, channel, only_endpoint FROM webhook_messages
         WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![endpoint.workspace_id, endpoint.cursor, limit as i64],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        },
    )?;
    let mut n = 0;
    for row in rows {
        let (event_type, channel, only) = row?;
        let wanted = match only {
            Some(target) => target == endpoint.id,
            None => sub.wants(&event_type, channel.as_deref()),
        };
        n += usize::from(wanted);
    }
    Ok(n)
}

/// One message by id (redeliveries read it again).
pub fn message(conn: &Connection, id: i64) -> Result<Option<Message>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT id, uid, event_type, body, created_at FROM webhook_messages WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Message {
                id: r.get(0)?,
                uid: r.get(1)?,
                event_type: r.get(2)?,
                body: r.get(3)?,
                created_at: r.get(4)?,
            })
        })
        .optional()?)
}

/// Deletes up to `limit` messages older than `before` (their deliveries and log go with
/// them); answers how many, so the caller can go on in bounded chunks. Messages go in id
/// (that is, time) order: the chunk is the oldest `limit`, so ingest keeps no index by
/// time, and a message still inside retention stops the pruning behind it.
pub fn prune(conn: &Connection, before: i64, limit: usize) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM webhook_messages WHERE id IN
               (SELECT id FROM (SELECT id, created_at FROM webhook_messages ORDER BY id LIMIT ?2)
                WHERE created_at < ?1)",
        )?
        .execute(params![before, limit as i64])?)
}
