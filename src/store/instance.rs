//! What belongs to one open store besides its connections: its clock, the wake-up signals
//! of the queues its writes feed, cache freshness, and the caches features keep of its rows.
//!
//! Nothing here is process-wide, so two Herald instances can run in one process (as the
//! tests do) without seeing each other's time, caches or wake-ups. Code that runs inside
//! [`Store::read`](super::Store::read) or [`Store::write`](super::Store::write) holds only a
//! `&Connection`; it reaches the instance of the store it runs for with [`here`]. The
//! writer thread serves one store for its whole life, and a read installs its store for
//! the length of the closure. On a bare connection (a unit test, a one-off CLI tool)
//! `here` answers a fresh, detached instance on the system clock.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::freshness::Freshness;
use crate::kinds::Clock;

/// How many queues can be signalled (their numbers are the jobs layer's business).
pub const SIGNALS: usize = 8;

/// Wake-ups for the loops that drain what writes queue: a write marks a queue as it adds
/// work; the writer pokes the marked queues once the write has committed.
pub struct Signals {
    pending: AtomicU8,
    notify: [Notify; SIGNALS],
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            pending: AtomicU8::new(0),
            notify: std::array::from_fn(|_| Notify::new()),
        }
    }
}

impl Signals {
    /// Inside a write: queue `n` has new due work; its loop wakes after commit.
    pub fn mark(&self, n: usize) {
        self.pending.fetch_or(1 << n, Ordering::AcqRel);
    }

    /// Wakes queue `n` now (the work is already committed).
    pub fn wake(&self, n: usize) {
        self.notify[n].notify_one();
    }

    /// What queue `n`'s loop waits on.
    pub fn notified(&self, n: usize) -> &Notify {
        &self.notify[n]
    }

    /// The writer, after every commit: wakes the queues the committed writes marked.
    pub(super) fn after_commit(&self) {
        let pending = self.pending.swap(0, Ordering::AcqRel);
        for n in 0..SIGNALS {
            if pending & (1 << n) != 0 {
                self.notify[n].notify_one();
            }
        }
    }
}

/// One store's clock, signals, freshness and feature caches.
pub struct Instance {
    clock: Clock,
    signals: Signals,
    freshness: Freshness,
    caches: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    vault: super::vault::Vault,
}

impl Instance {
    /// A new instance reading `clock`, sealing credentials with `vault`.
    pub fn new(clock: Clock, vault: super::vault::Vault) -> Arc<Instance> {
        Arc::new(Instance {
            clock,
            vault,
            signals: Signals::default(),
            freshness: Freshness::default(),
            caches: Mutex::new(HashMap::new()),
        })
    }

    /// The clock every wait, expiry and timestamp of this store reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Current time on this store's clock, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Seals and opens the credentials this store keeps.
    pub fn vault(&self) -> &super::vault::Vault {
        &self.vault
    }

    /// The wake-up signals of the queues this store's writes feed.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// Whether cached rows may be trusted.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// This store's cache of type `T`, created empty on first use. Features keep memory of
    /// rows here (parsed definitions, names already stored) instead of in statics.
    pub fn cache<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut caches = self.caches.lock().expect("store caches");
        let entry = caches
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        Arc::clone(entry)
            .downcast::<T>()
            .expect("a cache is stored under its own type")
    }
}

thread_local! {
    /// The instance whose connection this thread is using, if any.
    static CURRENT: RefCell<Option<Arc<Instance>>> = const { RefCell::new(None) };
}

/// The instance of the store whose read or write is running on this thread. Outside any
/// store, a throwaway one on the system clock whose vault key exists nowhere else.
pub fn here() -> Arc<Instance> {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(|| {
        let key: [u8; 32] = rand::random();
        Instance::new(Clock::system(), super::vault::Vault::from_key(&key))
    })
}

/// Marks this thread as working for `instance` until the guard drops (nests).
pub(super) fn enter(instance: &Arc<Instance>) -> Entered {
    let previous = CURRENT.with(|c| c.replace(Some(Arc::clone(instance))));
    Entered(previous)
}

/// Restores what the thread worked for before [`enter`].
pub(super) struct Entered(Option<Arc<Instance>>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}
