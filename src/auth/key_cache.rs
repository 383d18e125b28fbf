//! Remembers which presented API keys are live, so a busy API does not look each one up.
//!
//! Entries count only while the store's [`Freshness`] says nothing changed since they
//! were filled: revoking a key in this process drops them when the revocation commits;
//! a revocation by another process (the CLI) is noticed by the writer's next batch, and
//! when the writer is idle every request goes to the database as before.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::kinds::WorkspaceId;
use crate::store::freshness::Freshness;

/// A live key: `(key id, workspace id, workspace uid)`.
pub type LiveKey = (i64, WorkspaceId, String);

/// More distinct keys than this and the cache starts over (keys are few; this bounds it).
const MAX_ENTRIES: usize = 1024;

struct Entry {
    key: LiveKey,
    generation: u64,
}

/// One store's remembered keys (kept in its [`Instance`] caches).
#[derive(Default)]
pub struct KeyCache(Mutex<HashMap<Vec<u8>, Entry>>);

impl KeyCache {
    /// The live key with this hash, if it is cached and still trusted.
    pub fn get(&self, freshness: &Freshness, hash: &[u8]) -> Option<LiveKey> {
        let generation = freshness.current()?;
        let map = self.0.lock().expect("key cache lock");
        map.get(hash)
            .filter(|e| e.generation == generation)
            .map(|e| e.key.clone())
    }

    /// Remembers a key found live by a lookup that started at `generation`.
    pub fn put(&self, hash: Vec<u8>, key: LiveKey, generation: u64) {
        let mut map = self.0.lock().expect("key cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(hash, Entry { key, generation });
    }
}
