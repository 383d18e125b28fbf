//! Runs an import as a chain of durable chunk jobs.
//!
//! Each job parses the next rows from the import's `byte_offset` on a blocking thread,
//! then stores them in ONE write that also advances the offset and counters, completes
//! the job and enqueues the next one. A crash therefore resumes exactly after the last
//! committed chunk, and no row is counted twice.

use super::parse::{self, Chunk, Cursor, Rules};
use super::rows;
use super::store::{self, Import};
use crate::contacts::ContactError;
use crate::contacts::fields::{self, Field};
use crate::jobs::{self, ClaimedJob, JobContext, JobError, JobKind, StaleJob};
use crate::store::StoreError;

/// Rows stored per job: big enough that per-chunk overhead vanishes, small enough that
/// the single writer is never held for long.
pub const CHUNK_ROWS: usize = 5_000;

#[derive(Debug, thiserror::Error)]
enum ChunkError {
    #[error(transparent)]
    Contact(#[from] ContactError),
    #[error(transparent)]
    Stale(#[from] StaleJob),
    #[error("the import moved on since this chunk was read; reading again")]
    Moved,
}

/// Reading the uploaded file failed; the attempt is retried with backoff.
#[derive(Debug, thiserror::Error)]
#[error("could not read {path}: {source}")]
struct ReadFailed {
    path: String,
    source: std::io::Error,
}

impl From<ContactError> for JobError {
    fn from(e: ContactError) -> Self {
        match e {
            ContactError::Store(e) => JobError::Store(e),
            other => JobError::failed(other),
        }
    }
}

impl From<ChunkError> for JobError {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::Contact(e) => e.into(),
            ChunkError::Stale(e) => JobError::Stale(e),
            moved => JobError::failed(moved),
        }
    }
}

impl From<StoreError> for ChunkError {
    fn from(e: StoreError) -> Self {
        ChunkError::Contact(e.into())
    }
}

/// What the write did, for the follow-up after commit.
enum Stored {
    More,
    Finished(String),
    Nothing,
}

enum Prepared {
    Lost,
    Idle,
    Ready(Box<Import>, Vec<Field>),
}

/// Processes the next chunk of an import (called by the job scheduler).
pub async fn process_chunk(
    ctx: &JobContext,
    job: &ClaimedJob,
    import_id: i64,
) -> Result<(), JobError> {
    let held = job.clone();
    let prepared = ctx
        .store
        .read_async(move |conn| -> Result<Prepared, ContactError> {
            if !jobs::still_held(conn, &held)? {
                return Ok(Prepared::Lost);
            }
            match store::by_id(conn, import_id)? {
                Some(import) if import.active() => {
                    let declared = fields::list(conn, import.workspace_id)?;
                    Ok(Prepared::Ready(Box::new(import), declared))
                }
                _ => Ok(Prepared::Idle),
            }
        })
        .await?;
    let (import, declared) = match prepared {
        Prepared::Lost => return Ok(()),
        Prepared::Idle => return finish_job(ctx, job).await,
        Prepared::Ready(import, declared) => (*import, declared),
    };
    let from = Cursor {
        offset: import.byte_offset as u64,
        line: import.plan.next_line,
    };
    let path = import.path.clone();
    let targets: Vec<_> = import
        .plan
        .columns
        .iter()
        .map(super::mapping::stored_target)
        .collect();
    let max_string = ctx.config.limits.max_string_bytes;
    let chunk = tokio::task::spawn_blocking(move || {
        let rules = Rules {
            targets: &targets,
            declared: &declared,
            max_string,
        };
        parse::read_chunk(std::path::Path::new(&path), from, &rules, CHUNK_ROWS)
    })
    .await?
    .map_err(|source| {
        JobError::failed(ReadFailed {
            path: import.path.clone(),
            source,
        })
    })?;

    let job_done = job.clone();
    let max_attempts = ctx.config.jobs.max_attempts;
    let stored = ctx
        .store
        .write(move |conn| store_chunk(conn, &job_done, import.id, from, chunk, max_attempts))
        .await;
    match stored {
        Ok(Stored::More) => ctx.wakeup.wake(),
        Ok(Stored::Finished(path)) => remove_file(&path),
        Ok(Stored::Nothing) => {}
        // Another worker holds the job now; its run will do the work.
        Err(ChunkError::Stale(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn finish_job(ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
    let job = job.clone();
    ctx.store
        .write(move |conn| -> Result<(), ChunkError> { Ok(jobs::complete(conn, &job)??) })
        .await
        .or_else(|e| match e {
            ChunkError::Stale(_) => Ok(()),
            other => Err(other.into()),
        })
}

/// The write of one chunk: rows, progress, job completion and the next job, together.
fn store_chunk(
    conn: &rusqlite::Connection,
    job: &ClaimedJob,
    import_id: i64,
    from: Cursor,
    chunk: Chunk,
    max_attempts: u32,
) -> Result<Stored, ChunkError> {
    jobs::complete(conn, job)??;
    let Some(mut import) = store::by_id(conn, import_id)? else {
        return Ok(Stored::Nothing);
    };
    if !import.active() {
        return Ok(Stored::Nothing);
    }
    if import.byte_offset as u64 != from.offset {
        return Err(ChunkError::Moved);
    }
    let ws = import.workspace_id;
    rows::apply(conn, ws, chunk.rows, &mut import)?;
    import.byte_offset = chunk.end.offset as i64;
    import.plan.next_line = chunk.end.line;
    store::save_progress(conn, &import, chunk.eof)?;
    if chunk.eof {
        return Ok(Stored::Finished(import.path));
    }
    jobs::enqueue(
        conn,
        Some(ws),
        &JobKind::ImportContacts { import_id },
        crate::store::here().now_ms(),
        max_attempts,
    )?;
    Ok(Stored::More)
}

/// Records that an import gave up after its job ran out of attempts.
pub async fn mark_failed(ctx: &JobContext, import_id: i64, error: &str) {
    let reason = error.to_string();
    match ctx
        .store
        .write(move |conn| store::fail(conn, import_id, &reason))
        .await
    {
        Ok(Some(path)) => remove_file(&path),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(import = import_id, error = %e, "could not mark the import failed")
        }
    }
}

/// Drops an uploaded file once its import is over; it is no longer needed.
fn remove_file(path: &str) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(%path, error = %e, "could not remove a finished import file");
    }
}
