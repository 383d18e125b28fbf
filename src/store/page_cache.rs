//! SQLite's own page cache, wrapped so a commit does not walk the whole cache.
//!
//! When SQLite rebalances a B-tree it swaps two pages' numbers through a temporary
//! number, the database's lock page (about page 262,145 at 4 KiB pages). The default cache
//! then remembers that number as its largest key, and at every commit it truncates to
//! the database size; with a largest key that far out, the truncate scans every page in
//! the cache. Under a busy writer that is most commits, and it costs more the larger the
//! cache grows. This wrapper keeps its own largest real key per cache and forwards a
//! truncate only when some page could be at or past the limit; everything else goes
//! straight to the default implementation.

use std::ffi::{c_int, c_uint, c_void};
use std::sync::Once;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// SQLite's default page cache, captured before the wrapper replaces it.
struct Inner(ffi::sqlite3_pcache_methods2);

// SAFETY: the table is a set of C function pointers and SQLite's own `pArg`, never
// mutated after capture; SQLite calls them from any thread.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();
static INSTALL: Once = Once::new();
/// Truncates skipped that SQLite's default cache would have answered with a full scan;
/// exported for `/metrics` and the test that guards this wrapper.
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Where SQLite's lock page sits, in bytes (SQLite's `PENDING_BYTE`).
const PENDING_BYTE: u32 = 0x4000_0000;

/// One wrapped cache: the default cache plus what the wrapper knows of its keys.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// No page of this cache has a key above this (the lock page aside).
    max_key: c_uint,
    /// The page number used as the temporary during a swap.
    lock_page: c_uint,
    /// A page currently holds the lock page's number (only between two swap steps).
    at_lock_page: bool,
    /// The largest key SQLite's default cache would remember had every truncate reached
    /// it (its `iMaxKey`, lock page included): the default scans on a truncate only when
    /// the limit is at or below this, so only those skips count as scans avoided.
    shadow_max_key: c_uint,
}

/// Installs the wrapper. Must run before SQLite is first used in this process; if it is
/// too late, SQLite refuses and the default cache stays, which is only slower.
pub fn install() {
    INSTALL.call_once(|| {
        let mut default = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
        // SAFETY: GETPCACHE2 fills the struct passed by pointer; both calls are made
        // once, before any connection exists (SQLite answers MISUSE otherwise).
        let got =
            unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, default.as_mut_ptr()) };
        if got != ffi::SQLITE_OK {
            tracing::debug!(code = got, "page cache wrapper not installed");
            return;
        }
        // SAFETY: filled in by SQLite above.
        let default = unsafe { default.assume_init() };
        if default.xCreate.is_none() || INNER.set(Inner(default)).is_err() {
            return;
        }
        let methods = ffi::sqlite3_pcache_methods2 {
            iVersion: 1,
            pArg: std::ptr::null_mut(),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            xCreate: Some(create),
            xCachesize: Some(cachesize),
            xPagecount: Some(pagecount),
            xFetch: Some(fetch),
            xUnpin: Some(unpin),
            xRekey: Some(rekey),
            xTruncate: Some(truncate),
            xDestroy: Some(destroy),
            xShrink: Some(shrink),
        };
        // SAFETY: SQLite copies the table; it is not yet initialised (checked above).
        let set = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &methods) };
        if set != ffi::SQLITE_OK {
            tracing::debug!(code = set, "page cache wrapper refused");
        }
    });
}

/// How many commit-time truncates the wrapper answered without the full cache scan that
/// SQLite's default cache would have made for them (truncates the default would have
/// answered without a scan are not counted).
pub fn skipped_truncates() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

fn default() -> &'static ffi::sqlite3_pcache_methods2 {
    &INNER
        .get()
        .expect("page cache wrapper installed without a default")
        .0
}

/// # Safety
/// `p` must be a pointer returned by [`create`] and not yet destroyed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: per the contract above; SQLite never uses one cache from two threads at once.
    unsafe { &mut *(p as *mut Cache) }
}

unsafe extern "C" fn init(_arg: *mut c_void) -> c_int {
    let d = default();
    match d.xInit {
        // SAFETY: forwarding SQLite's own call with its own argument.
        Some(f) => unsafe { f(d.pArg) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn shutdown(_arg: *mut c_void) {
    let d = default();
    if let Some(f) = d.xShutdown {
        // SAFETY: as in `init`.
        unsafe { f(d.pArg) }
    }
}

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = default().xCreate else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding SQLite's call.
    let inner = unsafe { create(page_size, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let lock_page = PENDING_BYTE / (page_size.max(1) as u32) + 1;
    Box::into_raw(Box::new(Cache {
        inner,
        max_key: 0,
        lock_page,
        at_lock_page: false,
        shadow_max_key: 0,
    })) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    // SAFETY: `p` comes from `create`; the inner call gets the inner cache.
    unsafe {
        let c = cache(p);
        if let Some(f) = default().xCachesize {
            f(c.inner, n)
        }
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        default().xPagecount.map_or(0, |f| f(c.inner))
    }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create_flag: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        let Some(f) = default().xFetch else {
            return std::ptr::null_mut();
        };
        let page = f(c.inner, key, create_flag);
        if !page.is_null() {
            c.shadow_max_key = c.shadow_max_key.max(key);
            if key != c.lock_page {
                c.max_key = c.max_key.max(key);
            }
        }
        page
    }
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        if let Some(f) = default().xUnpin {
            f(c.inner, page, discard)
        }
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        if let Some(f) = default().xRekey {
            f(c.inner, page, old, new)
        }
        c.shadow_max_key = c.shadow_max_key.max(new);
        if new == c.lock_page {
            c.at_lock_page = true;
        } else {
            if old == c.lock_page {
                c.at_lock_page = false;
            }
            c.max_key = c.max_key.max(new);
        }
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        // Pages at or past `limit` can only exist if a real key reached it, or a page
        // sits at the lock page's number right now; otherwise there is nothing to drop.
        let nothing_to_drop = limit > c.max_key && !(c.at_lock_page && limit <= c.lock_page);
        // The default cache scans only when the limit is at or below its largest key, and
        // then lowers that key below the limit (`pcache1Truncate`).
        let default_would_scan = limit <= c.shadow_max_key;
        if default_would_scan {
            c.shadow_max_key = limit.saturating_sub(1);
        }
        if nothing_to_drop {
            if default_would_scan {
                SKIPPED.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if let Some(f) = default().xTruncate {
            f(c.inner, limit)
        }
        if limit <= c.max_key {
            c.max_key = limit.saturating_sub(1);
        }
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from `Box::into_raw` in `create` and SQLite destroys it once.
    unsafe {
        let c = Box::from_raw(p as *mut Cache);
        if let Some(f) = default().xDestroy {
            f(c.inner)
        }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let c = cache(p);
        if let Some(f) = default().xShrink {
            f(c.inner)
        }
    }
}
