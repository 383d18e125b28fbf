//! CSV import of contacts: the upload is streamed to disk, its columns are mapped to
//! contact properties, and the rows are stored in durable chunks by the job queue.
//!
//! - `upload`: receiving the file; `parse`: reading its header and chunks of rows;
//! - `mapping`: header → property; `store`: the `contact_imports` rows;
//! - `runner`: the chunk jobs; `rows`: storing a chunk's rows; `api`: the JSON endpoints.

pub mod api;
pub mod mapping;
pub mod parse;
mod rows;
pub mod runner;
pub mod store;
pub mod upload;

use std::path::PathBuf;

use serde_json::{Value, json};

pub use api::{status_api, upload_api};
pub use runner::{mark_failed, process_chunk};

use crate::contacts::ContactError;
use crate::jobs::JobContext;
use crate::kinds::WorkspaceId;
use mapping::Column;
use parse::Header;
use store::{Import, NewImport, Plan};

/// Reads the header row of an uploaded file on a blocking thread.
pub async fn inspect(path: PathBuf) -> Result<Header, ContactError> {
    tokio::task::spawn_blocking(move || parse::read_header(&path))
        .await
        .map_err(|e| ContactError::Invalid(format!("The file could not be read: {e}")))?
}

/// Creates the import and its first chunk job in one write, then wakes the scheduler.
pub async fn begin(
    ctx: &JobContext,
    ws: WorkspaceId,
    upload: &upload::Upload,
    filename: String,
    header: &Header,
    columns: Vec<Column>,
) -> Result<Import, ContactError> {
    let new = NewImport {
        uid: upload.uid.clone(),
        filename,
        path: upload.path.to_string_lossy().into_owned(),
        bytes_total: upload.bytes as i64,
        start_offset: header.start.offset as i64,
        plan: Plan {
            columns,
            next_line: header.start.line,
        },
    };
    let attempts = ctx.config.jobs.max_attempts;
    let import = ctx
        .store
        .write(move |conn| store::create(conn, ws, &new, attempts))
        .await?;
    ctx.wakeup.wake();
    Ok(import)
}

/// The API representation of an import.
pub fn to_json(import: &Import) -> Value {
    let mapping: serde_json::Map<String, Value> = import
        .plan
        .columns
        .iter()
        .map(|c| (c.header.clone(), Value::String(c.field.clone())))
        .collect();
    json!({
        "id": import.uid,
        "status": import.status,
        "filename": import.filename,
        "bytesTotal": import.bytes_total,
        "bytesDone": import.byte_offset.min(import.bytes_total),
        "percent": import.percent(),
        "rowsDone": import.rows_done,
        "created": import.created,
        "updated": import.updated,
        "failed": import.failed,
        "errors": import.errors,
        "mapping": mapping,
        "createdAt": crate::kinds::time::iso_time(import.created_at),
        "finishedAt": import.finished_at.map(crate::kinds::time::iso_time),
    })
}
