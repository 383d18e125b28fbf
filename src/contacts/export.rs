//! CSV export of every contact of a workspace, streamed page by page (keyset on id) so a
//! million contacts never sit in memory at once.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use serde_json::Value;

use super::fields::{self, Field};
use super::{Contact, ContactError, store};
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::store::Store;

/// Contacts read per page of the export.
const PAGE: u32 = 1_000;

/// The built-in columns, in order; declared custom fields follow by key.
pub const HEADER: &[&str] = &[
    "email",
    "externalId",
    "phone",
    "firstName",
    "lastName",
    "name",
    "tags",
    "subscribed",
    "createdAt",
];

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Neutralises a cell a spreadsheet would run as a formula (OWASP "CSV injection"): a
/// leading `=`, `+`, `-`, `@`, tab or carriage return gets a `'` in front. Plain numbers
/// such as `-5` are left alone, so number fields survive a round trip.
fn neutralize(cell: String) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.trim().parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell
    }
}

fn record(contact: &Contact, declared: &[Field]) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut row: Vec<String> = vec![
        text(&contact.email),
        text(&contact.external_id),
        text(&contact.phone),
        text(&contact.first_name),
        text(&contact.last_name),
        text(&contact.name),
        contact.tags.join(";"),
        contact.subscribed.to_string(),
        crate::kinds::time::iso_time(contact.created_at),
    ];
    row.extend(
        declared
            .iter()
            .map(|f| cell(contact.properties.get(&f.key))),
    );
    row.into_iter().map(neutralize).collect()
}

fn encode(rows: impl Iterator<Item = Vec<String>>) -> Result<Bytes, ContactError> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(64 * 1024));
    for row in rows {
        out.write_record(&row)
            .map_err(|e| ContactError::Invalid(e.to_string()))?;
    }
    out.into_inner()
        .map(Bytes::from)
        .map_err(|e| ContactError::Invalid(e.to_string()))
}

enum Cursor {
    Header,
    After(i64),
    Done,
}

/// The CSV download of a workspace's contacts, for the API and the UI alike.
pub async fn csv_response(store: Store, ws: WorkspaceId) -> Result<HttpResponse, ContactError> {
    let today = store.clock().now_ms();
    let declared = store.read_async(move |conn| fields::list(conn, ws)).await?;
    let body = stream::unfold(
        (Cursor::Header, store, declared),
        move |(cursor, store, declared)| async move {
            match cursor {
                Cursor::Done => None,
                Cursor::Header => {
                    let mut names: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
                    names.extend(declared.iter().map(|f| f.key.clone()));
                    let bytes = encode(std::iter::once(names));
                    Some((bytes, (Cursor::After(0), store, declared)))
                }
                Cursor::After(after) => {
                    let page = store
                        .read_async(move |conn| store::for_each(conn, ws, after, PAGE))
                        .await;
                    let page = match page {
                        Ok(page) => page,
                        Err(e) => return Some((Err(e), (Cursor::Done, store, declared))),
                    };
                    let next = match page.last() {
                        Some(last) if page.len() == PAGE as usize => Cursor::After(last.id),
                        _ => Cursor::Done,
                    };
                    let bytes = encode(page.iter().map(|c| record(c, &declared)));
                    Some((bytes, (next, store, declared)))
                }
            }
        },
    );
    let body = futures_util::StreamExt::map(body, |chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "contact export stopped");
            actix_web::error::ErrorServiceUnavailable("export failed")
        })
    });
    let date = crate::kinds::time::iso_time(today);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"contacts-{}.csv\"", &date[..10]),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// `GET /api/contacts/export`: every contact of the caller's workspace as CSV.
pub async fn csv_api(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    Ok(csv_response(state.store.clone(), caller.workspace_id).await?)
}
