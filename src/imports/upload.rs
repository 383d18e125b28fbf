//! Receiving an uploaded CSV: streamed to `<data_dir>/imports/<uid>.csv` chunk by chunk,
//! never held in memory, and refused as soon as it passes the configured size.
//!
//! The browser flow uploads first and maps columns on a second page, so an upload not yet
//! started is remembered by a small `<uid>.json` file naming its workspace and file name.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::kinds::WorkspaceId;

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("The file is larger than the import limit of {0} bytes")]
    TooLarge(u64),
    #[error("The upload was interrupted: {0}")]
    Body(String),
    #[error("The upload could not be saved: {0}")]
    Io(#[from] std::io::Error),
}

/// A file safely on disk.
#[derive(Debug, Clone)]
pub struct Upload {
    pub uid: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Folder holding uploaded import files.
pub fn imports_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("imports")
}

/// Where the file of upload `uid` lives; `None` unless `uid` is a well-formed id, so a
/// path from a URL can never leave the folder.
pub fn file_of(data_dir: &Path, uid: &str) -> Option<PathBuf> {
    let uid = uuid::Uuid::parse_str(uid).ok()?.hyphenated().to_string();
    Some(imports_dir(data_dir).join(format!("{uid}.csv")))
}

/// Streams `body` into a new file, refusing more than `max` bytes.
pub async fn receive<S, E>(data_dir: &Path, max: u64, mut body: S) -> Result<Upload, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let uid = uuid::Uuid::now_v7().to_string();
    let dir = imports_dir(data_dir);
    let path = dir.join(format!("{uid}.csv"));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let target = path.clone();
    // File writes block, so one blocking task writes what the request delivers.
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        crate::store::private_dir(&dir)?;
        let file = std::fs::File::create(&target)?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        while let Some(bytes) = rx.blocking_recv() {
            out.write_all(&bytes)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    });
    let mut total = 0u64;
    let mut refused = None;
    while let Some(item) = body.next().await {
        let bytes = match item {
            Ok(bytes) => bytes,
            Err(e) => {
                refused = Some(UploadError::Body(e.to_string()));
                break;
            }
        };
        total += bytes.len() as u64;
        if total > max {
            refused = Some(UploadError::TooLarge(max));
            break;
        }
        if tx.send(bytes).await.is_err() {
            break;
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| UploadError::Io(std::io::Error::other(e.to_string())))
        .and_then(|r| r.map_err(UploadError::from));
    match (refused, written) {
        (None, Ok(())) => Ok(Upload {
            uid,
            path,
            bytes: total,
        }),
        (Some(e), _) | (None, Err(e)) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// An uploaded file waiting for its column mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub workspace_id: i64,
    pub filename: String,
    pub bytes: u64,
}

fn pending_path(data_dir: &Path, uid: &str) -> Option<PathBuf> {
    file_of(data_dir, uid).map(|p| p.with_extension("json"))
}

/// Remembers an upload until its mapping is chosen.
pub fn save_pending(data_dir: &Path, uid: &str, pending: &Pending) -> std::io::Result<()> {
    let path = pending_path(data_dir, uid).ok_or_else(|| std::io::Error::other("bad upload id"))?;
    std::fs::write(
        path,
        serde_json::to_vec(pending).expect("pending uploads serialize"),
    )
}

/// The pending upload `uid` if it exists and belongs to the workspace.
pub fn load_pending(data_dir: &Path, uid: &str, ws: WorkspaceId) -> Option<Pending> {
    let raw = std::fs::read(pending_path(data_dir, uid)?).ok()?;
    let pending: Pending = serde_json::from_slice(&raw).ok()?;
    (pending.workspace_id == ws.0).then_some(pending)
}

/// Forgets a pending upload (its file stays: the import now owns it).
pub fn forget_pending(data_dir: &Path, uid: &str) {
    if let Some(path) = pending_path(data_dir, uid) {
        let _ = std::fs::remove_file(path);
    }
}

/// Keeps a user-supplied file name displayable: no paths, at most 200 characters.
pub fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let name: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if name.is_empty() {
        "contacts.csv".into()
    } else {
        name
    }
}
