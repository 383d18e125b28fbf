//! `/contacts`: search, total, page links and the way to add, import and export.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::tabs;
use crate::contacts::{Contact, store};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::{PageError, format_time, render};

const PER_PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    search: String,
    page: Option<u32>,
}

fn page_link(search: &str, page: u32) -> String {
    let mut pairs = vec![("page", page.to_string())];
    if !search.is_empty() {
        pairs.insert(0, ("search", search.to_string()));
    }
    format!(
        "/contacts?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// The contact list.
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "contacts")?;
    let ListQuery { search, page } = query.into_inner();
    let search = search.trim().to_string();
    let page = page.unwrap_or(1).max(1);
    let ws = user.0.workspace.id;
    let term = search.clone();
    let found = state
        .store
        .read_async(move |conn| store::list(conn, ws, &term, page, PER_PAGE))
        .await?;
    let pages = ((found.total + PER_PAGE as i64 - 1) / PER_PAGE as i64).max(1) as u32;
    let body = html! {
        (tabs("list"))
        div.row {
            a.button href="/contacts/new" { "Add contact" } " "
            a.button href="/contacts/import" { "Import" } " "
            a.button href="/contacts/export" download { "Export CSV" }
        }
        form.filters method="get" action="/contacts" role="search" {
            label { "Search" input type="search" name="search" value=(search) placeholder="email, name or external id"; }
            button type="submit" { "Search" }
            @if !search.is_empty() { a href="/contacts" { "Clear" } }
        }
        p.muted {
            (found.total) " contact" @if found.total != 1 { "s" }
            @if !search.is_empty() { " matching “" (search) "”" }
        }
        @if found.contacts.is_empty() {
            p.empty { @if search.is_empty() { "No contacts yet. Add one, import a CSV, or send an event." } @else { "No contacts match." } }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Email" } th { "Name" } th { "Tags" } th { "Subscribed" } th { "Created" } } }
                tbody { @for c in &found.contacts { (row(c)) } }
            } }
        }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a href=(page_link(&search, page - 1)) rel="prev" { "← Previous" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a href=(page_link(&search, page + 1)) rel="next" { "Next →" } }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Contacts", body))
}

fn row(c: &Contact) -> Markup {
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
            td { (format_time(c.created_at)) }
        }
    }
}
