//! The one SQLite file: a pool of readers and a single group-committing writer.
//!
//! Every write goes through [`Store::write`], so the process never fights itself for
//! the write lock and many small writes share one fsync.

mod backup;
pub mod batch;
pub mod freshness;
pub mod idempotency;
pub mod instance;
mod migrate;
pub mod page_cache;
pub mod vault;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::config::{Durability, StoreConfig};
use crate::kinds::Clock;
pub use backup::backup_to;
pub use migrate::migrate;
use writer::Writer;

pub use instance::{Instance, here};

/// Runs inside the transaction of each write batch just before it commits.
pub type CommitHook = fn(&Connection) -> Result<(), StoreError>;

/// What a feature above the store asks it to do at points only the writer sees;
/// `app.rs` fills these in, so the store never imports a feature.
#[derive(Default)]
pub struct StoreHooks {
    /// Batch-level work, once per commit (see [`CommitHook`]).
    pub before_commit: Vec<CommitHook>,
}
pub use writer::WriterStats;

/// Prepared statements kept per connection (rusqlite's default of 16 is fewer than the
/// statements one busy ingest path uses).
const STATEMENT_CACHE: usize = 256;

/// Something went wrong below the domain: the database, the pool or the writer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("connection pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("a write panicked and was rolled back")]
    WritePanicked,
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the database cannot be reached right now (busy, locked, pool exhausted,
    /// the writer gone, an I/O failure): a `503`, worth a retry. Anything else is a bug
    /// in a query or in Herald, answered `500`.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Pool(_) | StoreError::WriterGone | StoreError::Io(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                DatabaseBusy
                    | DatabaseLocked
                    | CannotOpen
                    | DiskFull
                    | SystemIoFailure
                    | OutOfMemory
            ),
            _ => false,
        }
    }
}

/// Creates a directory of private data (the data directory, imports, the outbox) owner-
/// only, and tightens one that an older version created world-readable.
pub fn private_dir(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Makes the database and its WAL owner-only, in case an older version created them
/// world-readable.
pub fn tighten_database_files(db: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Makes every file this process creates owner-only (the database, its WAL, imports,
/// outbox mail, backups): called first thing, before anything is opened.
pub fn private_files() {
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Shared handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Writer,
    instance: Arc<Instance>,
}

impl Store {
    /// Opens the store on the system clock with no hooks: for the command line and tools.
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        Store::open_with(config, Clock::system(), StoreHooks::default())
    }

    /// Opens (creating if needed) the database, applies migrations and starts the writer,
    /// which reads `clock` and runs `hooks`.
    pub fn open_with(
        config: &StoreConfig,
        clock: Clock,
        hooks: StoreHooks,
    ) -> Result<Store, StoreError> {
        private_dir(&config.data_dir)?;
        let path = config.data_dir.join("herald.db");
        let mut conn = open_connection(&path, config)?;
        for applied in migrate(&mut conn)? {
            tracing::info!(migration = %applied, "applied database migration");
        }
        let sync_wal = apply_durability(&conn, config.durability, &path)?;
        tighten_database_files(&path)?;
        // The writer touches indexes all over the file; a larger cache keeps bulk work
        // (imports, busy ingest) from spilling pages. It grows only as it is used.
        conn.execute_batch("PRAGMA cache_size = -32768;")?;
        // Every write runs in a savepoint, whose undo pages go to a sub-journal; kept in
        // memory it never spills to a temporary file in the middle of a batch.
        conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
        // Checkpoints copy the WAL back into the database file; doing them on their own
        // thread keeps that work off the single writer's commit path.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        start_checkpointer(&path, config)?;
        let vault = vault::Vault::open(Some(&config.secret_key), &config.data_dir)?;
        let instance = Instance::new(clock, vault);
        let writer = Writer::start(conn, config.max_batch, sync_wal, instance.clone(), hooks);
        let busy = config.busy_timeout_ms;
        let manager = SqliteConnectionManager::file(&path).with_init(move |c| {
            c.busy_timeout(Duration::from_millis(busy))?;
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")
        });
        let readers = r2d2::Pool::builder()
            .max_size(config.read_pool_size)
            .min_idle(Some(1))
            .build(manager)?;
        Ok(Store {
            readers,
            writer,
            instance,
        })
    }

    /// Runs a read on a pooled connection on the calling thread. Keep it short.
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let conn = self.readers.get().map_err(StoreError::from)?;
        let _serving = instance::enter(&self.instance);
        f(&conn)
    }

    /// This store's clock, signals, freshness and caches.
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }

    /// The clock this store's writes and waits read.
    pub fn clock(&self) -> &Clock {
        self.instance.clock()
    }

    /// Runs a read on the blocking thread pool; for queries that may take a while.
    pub async fn read_async<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read(f))
            .await
            .map_err(|_| E::from(StoreError::WritePanicked))?
    }

    /// Runs `f` inside the writer's transaction; resolves only once it is committed.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit(f).await
    }

    /// [`Store::write`] for a write whose closure can run again (`Fn`), for the busiest
    /// paths: such writes in one batch share a savepoint; if one fails, the others run
    /// again on their own, so each still succeeds or fails alone.
    pub async fn write_replayable<T, E>(
        &self,
        f: impl Fn(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit_replayable(f).await
    }

    /// Blocking form of [`Store::write`] for the command line and other threads.
    pub fn write_blocking<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit_blocking(f)
    }

    /// Whether a reader answers and the writer thread is alive.
    pub fn healthy(&self) -> Result<(), StoreError> {
        if !self.writer.alive() {
            return Err(StoreError::WriterGone);
        }
        let conn = self.readers.get()?;
        conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Pool and writer figures for `/metrics`.
    pub fn stats(&self) -> (r2d2::State, WriterStats) {
        (self.readers.state(), self.writer.stats())
    }
}

/// Opens a read-write connection with the pragmas every Herald connection needs.
pub fn open_connection(path: &Path, config: &StoreConfig) -> Result<Connection, StoreError> {
    page_cache::install();
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_millis(config.busy_timeout_ms))?;
    // The writer runs every kind of statement; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

/// Runs passive checkpoints every 250 ms from a connection of its own (never blocking the
/// writer), and a truncating one when the WAL has grown past 64 MiB.
fn start_checkpointer(path: &Path, config: &StoreConfig) -> Result<(), StoreError> {
    let conn = open_connection(path, config)?;
    let wal = path.with_extension("db-wal");
    std::thread::Builder::new()
        .name("herald-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                let big = std::fs::metadata(&wal)
                    .map(|m| m.len() > 64 * 1024 * 1024)
                    .unwrap_or(false);
                let mode = if big { "TRUNCATE" } else { "PASSIVE" };
                if let Err(e) =
                    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                {
                    tracing::debug!(error = %e, "checkpoint skipped");
                }
            }
        })?;
    Ok(())
}

/// Sets the writer's `synchronous` level. Full durability commits without syncing and
/// returns the log file the writer's syncer fsyncs before any caller hears back, so the
/// next batch is written while the previous one reaches the disk.
fn apply_durability(
    conn: &Connection,
    durability: Durability,
    path: &Path,
) -> Result<Option<std::path::PathBuf>, StoreError> {
    let (level, sync_wal) = match durability {
        Durability::Full => ("NORMAL", Some(path.with_extension("db-wal"))),
        Durability::Normal => ("NORMAL", None),
        Durability::Off => ("OFF", None),
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {level};"))?;
    Ok(sync_wal)
}
