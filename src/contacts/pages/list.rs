//! `/contacts`: search, filter by a saved segment or an ad-hoc filter, sort by a column,
//! choose declared fields to show as columns, the matching total, page links, and the way
//! to add, import and export. A filter that is wrong comes back 422 with what was typed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::tabs;
use crate::contacts::fields::Field;
use crate::contacts::{Contact, store};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::segments::store::{self as segments, listing};
use crate::segments::{Segment, SegmentError};
use crate::ui::layout::render_with_status;
use crate::ui::{PageError, format_time};

const PER_PAGE: u32 = 50;

/// The list's query: repeated `fields` keys are why it is read by hand.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    search: String,
    page: u32,
    segment: String,
    filter: String,
    sort: String,
    order: String,
    fields: Vec<String>,
}

impl ListQuery {
    fn from_request(req: &HttpRequest) -> ListQuery {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let mut q = ListQuery {
            page: 1,
            ..ListQuery::default()
        };
        for (key, value) in pairs {
            let value = value.trim().to_string();
            match key.as_str() {
                "search" => q.search = value,
                "page" => q.page = value.parse().unwrap_or(1).max(1),
                "segment" => q.segment = value,
                "filter" => q.filter = value,
                "sort" => q.sort = value,
                "order" => q.order = value,
                "fields" if !value.is_empty() && !q.fields.contains(&value) => q.fields.push(value),
                _ => {}
            }
        }
        q
    }

    fn shaped(&self) -> bool {
        [&self.segment, &self.filter, &self.sort, &self.order]
            .iter()
            .any(|v| !v.is_empty())
    }

    /// This list's address with some parts changed.
    fn link(&self, page: u32, sort: Option<(&str, &str)>) -> String {
        let (sort, order) = sort.unwrap_or((&self.sort, &self.order));
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (key, value) in [
            ("search", self.search.as_str()),
            ("segment", &self.segment),
            ("filter", &self.filter),
            ("sort", sort),
            ("order", order),
        ] {
            if !value.is_empty() {
                pairs.push((key, value.to_string()));
            }
        }
        pairs.extend(self.fields.iter().map(|f| ("fields", f.clone())));
        pairs.push(("page", page.to_string()));
        format!(
            "/contacts?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

/// What the page shows besides the contacts.
struct Shown {
    page: store::Page,
    fields: Vec<Field>,
    segments: Vec<Segment>,
    /// The order in effect: key and direction.
    sort: Option<(String, bool)>,
}

fn load(
    conn: &rusqlite::Connection,
    ws: crate::kinds::WorkspaceId,
    q: &ListQuery,
) -> Result<Shown, SegmentError> {
    let fields = crate::contacts::fields::list(conn, ws)?;
    let all = segments::all(conn, ws)?;
    if !q.shaped() {
        let page = store::list(conn, ws, &q.search, q.page, PER_PAGE)?;
        return Ok(Shown {
            page,
            fields,
            segments: all,
            sort: None,
        });
    }
    let segment = (!q.segment.is_empty()).then_some(q.segment.as_str());
    let filter = (!q.filter.is_empty()).then_some(q.filter.as_str());
    let cond = listing::chosen(conn, ws, segment, filter)?;
    let sort = listing::Sort::parse(&q.sort, &q.order, &segments::catalog(conn, ws)?)?;
    let shown = listing::Listing {
        cond: cond.as_ref(),
        search: &q.search,
        sort: &sort,
        page: q.page,
        limit: PER_PAGE,
    };
    let page = listing::page(conn, ws, &shown)?;
    Ok(Shown {
        page,
        fields,
        segments: all,
        sort: Some((sort.key_name(), sort.descending)),
    })
}

/// The contact list.
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let q = ListQuery::from_request(&req);
    let ws = user.0.workspace.id;
    let asked = q.clone();
    let loaded = state
        .store
        .read_async(move |conn| load(conn, ws, &asked))
        .await;
    let (status, body) = match loaded {
        Ok(shown) => (StatusCode::OK, body(&q, &shown, None)),
        Err(SegmentError::Store(e)) => return Err(e.into()),
        Err(e) => {
            let fallback = state
                .store
                .read_async(move |conn| -> Result<Shown, SegmentError> {
                    Ok(Shown {
                        page: store::Page {
                            contacts: Vec::new(),
                            total: 0,
                            capped: false,
                        },
                        fields: crate::contacts::fields::list(conn, ws)?,
                        segments: segments::all(conn, ws)?,
                        sort: None,
                    })
                })
                .await?;
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                body(&q, &fallback, Some(&e.to_string())),
            )
        }
    };
    Ok(render_with_status(
        &req,
        status,
        Some(&nav),
        "Contacts",
        body,
    ))
}

/// The search and filter form; it keeps what was asked.
fn filter_form(q: &ListQuery, shown: &Shown) -> Markup {
    html! {
        form.filters method="get" action="/contacts" role="search" {
            label { "Search" input type="search" name="search" value=(q.search) placeholder="email, name or external id"; }
            label { "Segment"
                select name="segment" {
                    option value="" { "All contacts" }
                    @for s in &shown.segments { option value=(s.uid) selected[s.uid == q.segment] { (s.name) } }
                }
            }
            @if !q.sort.is_empty() { input type="hidden" name="sort" value=(q.sort); }
            @if !q.order.is_empty() { input type="hidden" name="order" value=(q.order); }
            button type="submit" { "Show" }
            @if q.shaped() || !q.search.is_empty() { a href="/contacts" { "Clear" } }
            details open[!q.filter.is_empty()] {
                summary { "Ad-hoc filter (JSON, as in a segment)" }
                textarea name="filter" rows="4" spellcheck="false" placeholder="{\"all\": [{\"tag\": \"vip\"}]}" { (q.filter) }
            }
            @if !shown.fields.is_empty() {
                fieldset { legend { "Show fields as columns" }
                    @for f in &shown.fields {
                        label.check { input type="checkbox" name="fields" value=(f.key) checked[q.fields.contains(&f.key)]; " " (f.label) }
                    }
                }
            }
        }
    }
}

/// A column header that sorts by `key` (and flips the direction when it already does).
fn sort_header(q: &ListQuery, shown: &Shown, key: &str, label: &str) -> Markup {
    let current = shown.sort.as_ref().filter(|(k, _)| k == key);
    let (order, mark) = match current {
        Some((_, true)) => ("asc", " ↓"),
        Some((_, false)) => ("desc", " ↑"),
        None => ("asc", ""),
    };
    html! { th { a href=(q.link(1, Some((key, order)))) { (label) (mark) } } }
}

fn body(q: &ListQuery, shown: &Shown, error: Option<&str>) -> Markup {
    let found = &shown.page;
    let pages = ((found.total + PER_PAGE as i64 - 1) / PER_PAGE as i64).max(1) as u32;
    let columns: Vec<&Field> = shown
        .fields
        .iter()
        .filter(|f| q.fields.contains(&f.key))
        .collect();
    let segment = shown.segments.iter().find(|s| s.uid == q.segment);
    html! {
        (tabs("list"))
        div.row {
            a.button href="/contacts/new" { "Add contact" } " "
            a.button href="/contacts/import" { "Import" } " "
            a.button href="/contacts/export" download { "Export CSV" }
        }
        (filter_form(q, shown))
        @if let Some(error) = error { p.error role="alert" { (error) } }
        p.muted {
            (found.total) " contact" @if found.total != 1 { "s" }
            @if let Some(s) = segment { " in segment “" (s.name) "”" }
            @if !q.filter.is_empty() { " matching the filter" }
            @if !q.search.is_empty() { " matching “" (q.search) "”" }
        }
        @if found.contacts.is_empty() {
            p.empty { @if q.search.is_empty() && !q.shaped() { "No contacts yet. Add one, import a CSV, or send an event." } @else { "No contacts match." } }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    (sort_header(q, shown, "email", "Email"))
                    (sort_header(q, shown, "lastName", "Name"))
                    th { "Tags" } th { "Subscribed" }
                    @for f in &columns { (sort_header(q, shown, &f.key, &f.label)) }
                    (sort_header(q, shown, "createdAt", "Created"))
                } }
                tbody { @for c in &found.contacts { (row(c, &columns)) } }
            } }
        }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if q.page > 1 { a href=(q.link(q.page - 1, None)) rel="prev" { "← Previous" } }
                span { "Page " (q.page) " of " (pages) }
                @if q.page < pages { a href=(q.link(q.page + 1, None)) rel="next" { "Next →" } }
            }
        }
    }
}

fn row(c: &Contact, columns: &[&Field]) -> Markup {
    let name = [
        c.name.as_deref(),
        c.first_name.as_deref(),
        c.last_name.as_deref(),
    ];
    let shown = match name {
        [Some(n), _, _] if !n.is_empty() => n.to_string(),
        [_, first, last] => [first, last]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    };
    html! {
        tr {
            td { a href=(format!("/contacts/{}", c.uid)) { (c.email.as_deref().unwrap_or("(no email)")) } }
            td { (shown) }
            td { @for tag in &c.tags { span.badge { (tag) } " " } }
            td { @if c.subscribed { span.badge.good { "subscribed" } } @else { span.badge.bad { "unsubscribed" } } }
            @for f in columns {
                td { @match c.properties.get(&f.key) {
                    Some(serde_json::Value::String(s)) => { (s) }
                    Some(v) => { (v.to_string()) }
                    None => {}
                } }
            }
            td { (format_time(c.created_at)) }
        }
    }
}
