//! The contacts list when it is filtered (by a segment or an ad-hoc filter) or sorted:
//! one page in the order asked for, with the exact number of matches. The unfiltered,
//! newest-first list keeps its own faster paths in `contacts::store`.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use super::compile::{Mode, compile};
use crate::contacts::store::Page;
use crate::kinds::WorkspaceId;
use crate::segments::SegmentError;
use crate::segments::check::{BUILT_IN, Catalog, Cond};

/// What the list is ordered by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// A column of `contacts` (a built-in property).
    Column(&'static str),
    /// A declared field, inside `properties`.
    Property(String),
}

/// An order: a key and a direction; ties (and contacts without the value, which come
/// last either way) go by row id in the same direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    /// What is compared.
    pub key: SortKey,
    /// Largest (or newest) first.
    pub descending: bool,
}

impl Sort {
    /// The list's usual order: newest first.
    pub fn newest() -> Sort {
        Sort {
            key: SortKey::Column("created_at"),
            descending: true,
        }
    }

    /// Parses `sort` (a built-in property such as `email` or `createdAt`, or a declared
    /// field key; empty is `createdAt`) and `order` (`asc` or `desc`; empty is `desc` for
    /// times and `asc` otherwise).
    pub fn parse(sort: &str, order: &str, catalog: &Catalog) -> Result<Sort, SegmentError> {
        let sort = match sort.trim() {
            "" => "createdAt",
            s => s,
        };
        let key = if let Some((_, column, _)) = BUILT_IN.iter().find(|(k, _, _)| *k == sort) {
            SortKey::Column(column)
        } else if catalog.fields.iter().any(|f| f.key == sort) {
            SortKey::Property(sort.to_string())
        } else {
            return Err(SegmentError::invalid(
                "sort",
                format!(
                    "'{sort}' is neither a built-in property ({}) nor a declared field",
                    BUILT_IN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let time = matches!(key, SortKey::Column("created_at" | "updated_at"));
        let descending = match order.trim() {
            "" => time,
            "desc" => true,
            "asc" => false,
            _ => return Err(SegmentError::invalid("order", "must be asc or desc")),
        };
        Ok(Sort { key, descending })
    }

    /// The API spelling of the key.
    pub fn key_name(&self) -> String {
        match &self.key {
            SortKey::Column(column) => BUILT_IN
                .iter()
                .find(|(_, c, _)| c == column)
                .map_or("createdAt", |b| b.0)
                .to_string(),
            SortKey::Property(key) => key.clone(),
        }
    }

    /// The ORDER BY clause, binding a declared field's path.
    fn clause(&self, params: &mut Vec<SqlValue>) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        let value = match &self.key {
            SortKey::Column(c @ ("created_at" | "updated_at")) => format!("c.{c}"),
            SortKey::Column(c) => format!("c.{c} COLLATE NOCASE"),
            SortKey::Property(key) => {
                params.push(SqlValue::from(format!("$.\"{key}\"")));
                "json_extract(c.properties, ?)".to_string()
            }
        };
        let unset = match &self.key {
            SortKey::Property(key) => {
                params.push(SqlValue::from(format!("$.\"{key}\"")));
                "json_extract(c.properties, ?) IS NULL".to_string()
            }
            SortKey::Column(c) => format!("c.{c} IS NULL"),
        };
        format!("{unset}, {value} {dir}, c.id {dir}")
    }
}

/// One filtered, sorted page: what the contacts page and `GET /api/contacts` show.
pub struct Listing<'a> {
    /// The filter (`None`: every contact).
    pub cond: Option<&'a Cond>,
    /// Substring search over email, name and external id, as the plain list does.
    pub search: &'a str,
    /// The order of the page.
    pub sort: &'a Sort,
    /// Which page, from 1.
    pub page: u32,
    /// Contacts a page.
    pub limit: u32,
}

/// The search as a condition: the trigram index for three characters or more, a prefix
/// of email or external id for fewer.
fn search_clause(search: &str, params: &mut Vec<SqlValue>) -> Result<String, SegmentError> {
    let search = search.trim().to_lowercase();
    if search.chars().any(char::is_control) {
        return Err(SegmentError::invalid(
            "search",
            "must not contain control characters",
        ));
    }
    if search.is_empty() {
        return Ok("1".into());
    }
    if search.chars().count() >= 3 {
        params.push(SqlValue::from(format!(
            "\"{}\"",
            search.replace('"', "\"\"")
        )));
        return Ok(
            "c.id IN (SELECT rowid FROM contacts_search WHERE contacts_search MATCH ?)".into(),
        );
    }
    let upper = format!("{search}\u{10ffff}");
    params.extend([
        SqlValue::from(search.clone()),
        SqlValue::from(upper.clone()),
        SqlValue::from(search),
        SqlValue::from(upper),
    ]);
    Ok("((c.email >= ? AND c.email < ?) OR (c.external_id >= ? AND c.external_id < ?))".into())
}

/// A page of the listing with the exact number of contacts it selects.
pub fn page(
    conn: &Connection,
    ws: WorkspaceId,
    listing: &Listing<'_>,
) -> Result<Page, SegmentError> {
    let mut params = vec![SqlValue::from(ws.0)];
    let search = search_clause(listing.search, &mut params)?;
    let filter = match listing.cond {
        Some(cond) => {
            let sql = compile(cond, ws, crate::store::here().now_ms(), Mode::Set);
            params.extend(sql.params);
            sql.text
        }
        None => "1".into(),
    };
    let filter = format!("c.workspace_id = ? AND {search} AND {filter}");
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM contacts c WHERE {filter}"))?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
    let order = listing.sort.clause(&mut params);
    let offset = i64::from(listing.page.saturating_sub(1)) * i64::from(listing.limit);
    params.push(SqlValue::from(i64::from(listing.limit)));
    params.push(SqlValue::from(offset));
    let text =
        format!("SELECT c.id FROM contacts c WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?");
    let mut stmt = conn.prepare_cached(&text)?;
    let ids = stmt
        .query_map(params_from_iter(params.iter()), |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    let contacts = super::contacts_by_id(conn, ws, &ids)?;
    Ok(Page {
        contacts,
        total,
        capped: false,
    })
}

/// The filter a listing asks for: a saved segment by public id, or an ad-hoc filter as
/// JSON text (not both); `None` when it asks for neither.
pub fn chosen(
    conn: &Connection,
    ws: WorkspaceId,
    segment: Option<&str>,
    filter: Option<&str>,
) -> Result<Option<Cond>, SegmentError> {
    let segment = segment.map(str::trim).filter(|s| !s.is_empty());
    let filter = filter.map(str::trim).filter(|s| !s.is_empty());
    match (segment, filter) {
        (Some(_), Some(_)) => Err(SegmentError::invalid(
            "segment",
            "send a segment or a filter, not both",
        )),
        (Some(uid), None) => {
            let saved = super::get(conn, ws, uid)?.ok_or(SegmentError::NotFound)?;
            Ok(Some(super::resolve(conn, ws, &saved.filter)?))
        }
        (None, Some(text)) => {
            let value = serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
                SegmentError::invalid("filter", format!("must be a JSON filter ({e})"))
            })?;
            Ok(Some(super::parse_filter(conn, ws, &value)?.1))
        }
        (None, None) => Ok(None),
    }
}
