//! Reading the uploaded file: the header row, and one chunk of rows from a byte offset.
//! Runs on a blocking thread and holds no database connection.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use csv::{ByteRecord, ReaderBuilder};
use serde_json::Value;

use super::mapping::Target;
use crate::contacts::fields::{self, Field};
use crate::contacts::{
    ContactError, ContactPatch, normalize_email, normalize_phone, normalize_tags,
};

/// Read buffer for the CSV parser; large enough that a chunk is a few reads.
const BUFFER: usize = 256 * 1024;

/// Where reading resumes: a byte offset at the start of a record, and that record's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub offset: u64,
    pub line: u64,
}

/// The header row, a first data row to show as an example, and where data starts.
#[derive(Debug, Clone)]
pub struct Header {
    pub headers: Vec<String>,
    pub sample: Vec<String>,
    pub start: Cursor,
}

fn reader(file: File) -> csv::Reader<File> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(BUFFER)
        .from_reader(file)
}

/// Reads the header row (and one sample row) of an uploaded file.
pub fn read_header(path: &Path) -> Result<Header, ContactError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        ContactError::Invalid(format!("The file could not be read as CSV: {e}"))
    };
    let file = File::open(path).map_err(|e| ContactError::Store(e.into()))?;
    let mut csv = reader(file);
    let mut record = ByteRecord::new();
    if !csv
        .read_byte_record(&mut record)
        .map_err(|e| unreadable(&e))?
    {
        return Err(ContactError::Invalid("The CSV file is empty".into()));
    }
    let headers: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let text = String::from_utf8_lossy(cell);
            let text = if i == 0 {
                text.trim_start_matches('\u{feff}')
            } else {
                &text
            };
            text.trim().to_string()
        })
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(ContactError::Invalid(
            "The first line of the CSV has no column names".into(),
        ));
    }
    let pos = csv.position().clone();
    let start = Cursor {
        offset: pos.byte(),
        line: pos.line(),
    };
    let mut sample = Vec::new();
    if csv.read_byte_record(&mut record).unwrap_or(false) {
        sample = record
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_string())
            .collect();
    }
    Ok(Header {
        headers,
        sample,
        start,
    })
}

/// One data row ready to store: its line, the contact's email and the change to apply.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub email: String,
    pub patch: ContactPatch,
}

/// A row that cannot be imported and why.
#[derive(Debug, Clone)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// The rows of one chunk and where the next one starts.
#[derive(Debug)]
pub struct Chunk {
    pub rows: Vec<Result<ImportRow, RowError>>,
    pub end: Cursor,
    pub eof: bool,
}

/// What a row conversion needs besides the cells.
pub struct Rules<'a> {
    pub targets: &'a [Target],
    pub declared: &'a [Field],
    pub max_string: usize,
}

/// Reads up to `max_rows` rows starting at `from`.
pub fn read_chunk(
    path: &Path,
    from: Cursor,
    rules: &Rules<'_>,
    max_rows: usize,
) -> std::io::Result<Chunk> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from.offset))?;
    let mut csv = reader(file);
    let mut record = ByteRecord::new();
    let mut rows = Vec::with_capacity(max_rows.min(8192));
    let mut eof = false;
    while rows.len() < max_rows {
        if !csv
            .read_byte_record(&mut record)
            .map_err(std::io::Error::other)?
        {
            eof = true;
            break;
        }
        let relative = record.position().map(|p| p.line()).unwrap_or(1);
        let line = from.line + relative - 1;
        rows.push(convert(&record, line, rules).map_err(|message| RowError { line, message }));
    }
    let pos = csv.position();
    let end = Cursor {
        offset: from.offset + pos.byte(),
        line: from.line + pos.line() - 1,
    };
    Ok(Chunk { rows, end, eof })
}

fn text(cell: &str, what: &str, max: usize) -> Result<Option<Option<String>>, String> {
    if cell.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    Ok(Some(Some(cell.to_string())))
}

fn subscribed(cell: &str) -> Result<bool, String> {
    match cell.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" | "subscribed" => Ok(true),
        "false" | "no" | "n" | "0" | "off" | "unsubscribed" => Ok(false),
        _ => Err(format!("subscribed must be true or false, got '{cell}'")),
    }
}

/// Turns one record into a row; empty cells leave the contact's property alone.
fn convert(record: &ByteRecord, line: u64, rules: &Rules<'_>) -> Result<ImportRow, String> {
    let mut email = None;
    let mut patch = ContactPatch::default();
    for (target, raw) in rules.targets.iter().zip(record.iter()) {
        if *target == Target::Ignore {
            continue;
        }
        let cell = std::str::from_utf8(raw)
            .map_err(|_| "the line is not valid UTF-8".to_string())?
            .trim();
        if cell.is_empty() {
            continue;
        }
        let invalid = |e: ContactError| e.to_string();
        match target {
            Target::Email => email = Some(normalize_email(cell).map_err(invalid)?),
            Target::FirstName => patch.first_name = text(cell, "firstName", rules.max_string)?,
            Target::LastName => patch.last_name = text(cell, "lastName", rules.max_string)?,
            Target::Name => patch.name = text(cell, "name", rules.max_string)?,
            Target::ExternalId => patch.external_id = text(cell, "externalId", 255)?,
            Target::Phone => patch.phone = Some(Some(normalize_phone(cell).map_err(invalid)?)),
            Target::Tags => {
                let tags: Vec<String> = cell
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect();
                if !tags.is_empty() {
                    patch.tags = Some(normalize_tags(&tags).map_err(invalid)?);
                }
            }
            Target::Subscribed => patch.subscribed = Some(subscribed(cell)?),
            Target::Custom(key) => {
                let field = rules
                    .declared
                    .iter()
                    .find(|f| &f.key == key)
                    .ok_or_else(|| format!("the contact field '{key}' is no longer declared"))?;
                let value =
                    fields::coerce(field, &Value::String(cell.to_string()), rules.max_string)
                        .map_err(invalid)?;
                patch.properties.insert(key.clone(), value);
            }
            Target::Ignore => {}
        }
    }
    let email = email.ok_or_else(|| "missing email".to_string())?;
    Ok(ImportRow { line, email, patch })
}
