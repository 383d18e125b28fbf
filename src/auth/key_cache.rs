//! Remembers which presented API keys are live, so a busy API does not look each one up.
//!
//! Entries count only while [`crate::store::freshness`] says nothing changed since they
//! were filled: revoking a key in this process drops them when the revocation commits;
//! a revocation by another process (the CLI) is noticed by the writer's next batch, and
//! when the writer is idle every request goes to the database as before.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::kinds::WorkspaceId;
use crate::store::freshness;

/// A live key: `(key id, workspace id, workspace uid)`.
pub type LiveKey = (i64, WorkspaceId, String);

/// More distinct keys than this and the cache starts over (keys are few; this bounds it).
const MAX_ENTRIES: usize = 1024;

struct Entry {
    key: LiveKey,
    generation: u64,
}

fn cache() -> &'static Mutex<HashMap<Vec<u8>, Entry>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<Vec<u8>, Entry>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The live key with this hash, if it is cached and still trusted.
pub fn get(hash: &[u8]) -> Option<LiveKey> {
    let generation = freshness::current()?;
    let map = cache().lock().expect("key cache lock");
    map.get(hash)
        .filter(|e| e.generation == generation)
        .map(|e| e.key.clone())
}

/// Remembers a key found live by a lookup that started at `generation`.
pub fn put(hash: Vec<u8>, key: LiveKey, generation: u64) {
    let mut map = cache().lock().expect("key cache lock");
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(hash, Entry { key, generation });
}
