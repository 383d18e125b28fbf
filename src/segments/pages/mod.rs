//! `/segments`: the workspace's segments with their live member counts, a segment's page
//! (its filter in words, its count and first members, the editor) and the forms that
//! create, change and delete them. The editor is a JSON textarea beside a reference of
//! what the workspace's filters may name; "Preview" shows what a filter selects without
//! saving it. Every form works without JavaScript and comes back with what was typed
//! (422) when something is wrong.

mod form;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::check::Catalog;
use super::store as segments;
use super::{Segment, SegmentError, summary};
use crate::auth::policy::Need;
use crate::contacts::Contact;
use crate::http::extract::SignedIn;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::ui::components::{danger_button, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::{Flash, PageError, render};

/// Members shown on a segment's page and in a preview.
const SHOWN: u32 = 20;

/// Routes of this module; `/segments/new` comes before `/segments/{id}`.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/segments", Access::Page(Need::Read), index)
        .get("/segments/new", Access::Page(Need::Manage), form::new_page)
        .post("/segments/new", Access::Page(Need::Manage), form::create)
        .get("/segments/{id}", Access::Page(Need::Read), show)
        .post("/segments/{id}", Access::Page(Need::Manage), form::save)
        .post("/segments/{id}/delete", Access::Page(Need::Manage), delete);
}

impl From<SegmentError> for PageError {
    fn from(e: SegmentError) -> Self {
        match e {
            SegmentError::NotFound => PageError::NotFound,
            SegmentError::Store(e) => e.into(),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

/// What a filter selects right now: its words, its count and its first contacts, or why
/// it selects nothing (a saved filter that no longer fits the workspace).
pub(super) struct Selection {
    summary: String,
    count: Result<i64, String>,
    first: Vec<Contact>,
}

/// The selection of a saved segment.
fn selection(
    conn: &rusqlite::Connection,
    ws: WorkspaceId,
    segment: &Segment,
    catalog: &Catalog,
) -> Result<Selection, SegmentError> {
    let summary = summary::describe(&segment.filter, catalog);
    match segments::resolve(conn, ws, &segment.filter) {
        Ok(cond) => Ok(Selection {
            summary,
            count: Ok(segments::count(conn, ws, &cond)?),
            first: segments::members(conn, ws, &cond, 0, SHOWN)?,
        }),
        Err(SegmentError::Broken(problem)) => Ok(Selection {
            summary,
            count: Err(problem.to_string()),
            first: Vec::new(),
        }),
        Err(e) => Err(e),
    }
}

fn count_cell(count: &Result<i64, String>) -> Markup {
    html! {
        @match count {
            Ok(n) => { (n) }
            Err(problem) => { span.badge.bad title=(problem) { "invalid" } }
        }
    }
}

/// A row of the segments table: the segment, its filter in words and its live count
/// (or why it has none).
struct Listed {
    segment: Segment,
    words: String,
    count: Result<i64, String>,
}

fn listed(conn: &rusqlite::Connection, ws: WorkspaceId) -> Result<Vec<Listed>, SegmentError> {
    let catalog = segments::catalog(conn, ws)?;
    segments::all(conn, ws)?
        .into_iter()
        .map(|segment| {
            let words = summary::describe(&segment.filter, &catalog);
            let count = match segments::resolve(conn, ws, &segment.filter) {
                Ok(cond) => Ok(segments::count(conn, ws, &cond)?),
                Err(SegmentError::Broken(p)) => Err(p.to_string()),
                Err(e) => return Err(e),
            };
            Ok(Listed {
                segment,
                words,
                count,
            })
        })
        .collect()
}

async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "segments")?;
    let ws = user.0.workspace.id;
    let rows = state.store.read_async(move |conn| listed(conn, ws)).await?;
    let body = html! {
        @if user.0.role.can_manage() { p { a.button href="/segments/new" { "New segment" } } }
        @if rows.is_empty() {
            p.empty { "No segments yet. A segment is a saved filter over contacts: tags, lists, fields and event history. The contacts page, automations and later broadcasts can use it." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Filter" } th { "Contacts" } th {} } }
                tbody { @for row in &rows {
                    tr {
                        td { a href=(format!("/segments/{}", row.segment.uid)) { (row.segment.name) } }
                        td { (row.words) }
                        td { (count_cell(&row.count)) }
                        td { a href=(format!("/contacts?segment={}", row.segment.uid)) { "Show contacts" } }
                    }
                } }
            } }
        }
    };
    Ok(render(&req, Some(&nav), "Segments", body))
}

/// The contacts a selection starts with, as a small table.
pub(super) fn first_members(selection: &Selection) -> Markup {
    html! {
        @if selection.first.is_empty() {
            p.empty { "No contact matches." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Email" } th { "Name" } th { "Tags" } } }
                tbody { @for c in &selection.first {
                    tr {
                        td { a href=(format!("/contacts/{}", c.uid)) { (c.email.as_deref().unwrap_or("(no email)")) } }
                        td { (c.display_name()) }
                        td { @for tag in &c.tags { span.badge { (tag) } " " } }
                    }
                } }
            } }
        }
    }
}

/// The selection in a card: words, count, first members.
pub(super) fn selection_card(
    title: &str,
    selection: &Selection,
    contacts_link: Option<&str>,
) -> Markup {
    html! {
        section.card {
            h2 { (title) }
            p { (selection.summary) }
            @match &selection.count {
                Ok(n) => {
                    div.stats { div.stat { span.num { (n) } span.label { "contact" @if *n != 1 { "s" } } } }
                    @if let Some(link) = contacts_link { p { a href=(link) { "Show them on the contacts page →" } } }
                    (first_members(selection))
                }
                Err(problem) => { p.error role="alert" { "This filter selects no one until it is fixed: " (problem) } }
            }
        }
    }
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "segments")?;
    let loaded = form::load(&state, user.0.workspace.id, id.into_inner()).await?;
    let form = form::SegmentForm::of(&loaded.segment);
    let title = loaded.segment.name.clone();
    let body = form::segment_body(&loaded, &user, &form, None, None);
    Ok(render(&req, Some(&nav), &title, body))
}

/// The delete card of a segment's page.
pub(super) fn delete_card(segment: &Segment, token: &str) -> Markup {
    html! {
        section.card.narrow {
            h2 { "Delete" }
            p.muted { "Deleting the segment changes no contact. An automation that reads it must be changed first." }
            (danger_button(&format!("/segments/{}/delete", segment.uid), &format!("Delete the segment {}?", segment.name), token, "Delete segment"))
        }
    }
}

async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let uid = id.into_inner();
    let back = format!("/segments/{uid}");
    let deleted = user
        .write_on(&state, &uid, |conn, ws, uid| {
            super::api::delete_unused(conn, ws, uid)
        })
        .await;
    match deleted {
        Ok(segment) => Ok(redirect(
            "/segments",
            Flash::success(format!("Segment {} deleted.", segment.name)),
        )),
        Err(SegmentError::Conflict(m)) => Ok(redirect(&back, Flash::error(m))),
        Err(e) => Err(e.into()),
    }
}
