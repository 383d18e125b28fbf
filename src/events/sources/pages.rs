//! Events → Sources in the UI: the list with a create form, the page that shows a new URL
//! once, each source's deliveries, and enable / disable / rotate / delete buttons.
//! Everyone in the workspace may look; only owners and admins may change anything.

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use crate::ui::csrf::CsrfForm;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::store::{self, Source};
use super::views::{actions, counts_cell, create_form, delivery_row, mapping, status};
use super::{SourceSpec, SpecInput, hook_url, hook_url_hint};
use crate::events::pages::tabs;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::store::StoreError;
use crate::ui::components::redirect;
use crate::ui::{Flash, PageError, format_time, render};

/// Deliveries per page in the UI.
const PAGE_SIZE: u32 = 50;

/// Routes of the pages.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/events/sources", Access::Page(Need::Read), list_page)
        .post("/events/sources", Access::Page(Need::Manage), create)
        .get(
            "/events/sources/{id}",
            Access::Page(Need::Read),
            source_page,
        )
        .post(
            "/events/sources/{id}/enable",
            Access::Page(Need::Manage),
            enable,
        )
        .post(
            "/events/sources/{id}/disable",
            Access::Page(Need::Manage),
            disable,
        )
        .post(
            "/events/sources/{id}/rotate",
            Access::Page(Need::Manage),
            rotate,
        )
        .post(
            "/events/sources/{id}/delete",
            Access::Page(Need::Manage),
            delete,
        );
}

async fn list_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "events")?;
    let ws = user.0.workspace.id;
    let sources = state.store.read(|conn| store::list(conn, ws))?;
    let manager = user.0.role.can_manage();
    let body = html! {
        (tabs("sources"))
        section.card {
            p.muted { "An event source is an inbound webhook URL: point a provider (Stripe, your billing system, …) at it and each delivery becomes an event, exactly as if sent to " code { "POST /api/events/send" } ". Payloads that cannot be mapped are skipped and listed with the reason." }
            @if sources.is_empty() {
                p.empty { "No event sources yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "URL" } th { "Mapping" } th { "Signature" } th { "Status" } th { "Deliveries" } } }
                    tbody {
                        @for (source, counts) in &sources {
                            tr {
                                td { a href=(format!("/events/sources/{}", source.uid)) { (source.name) } }
                                td { code { (hook_url_hint(&source.token_prefix)) } }
                                td { (mapping(source)) }
                                td { (source.scheme.label()) }
                                td { (status(source)) }
                                td { (counts_cell(counts)) }
                            }
                        }
                    }
                } }
            }
        }
        @if manager { (create_form(&user)) }
    };
    Ok(render(&req, Some(&nav), "Event sources", body))
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email_path: String,
    #[serde(default)]
    event_name: String,
    #[serde(default)]
    event_name_path: String,
    #[serde(default)]
    signature: String,
    #[serde(default)]
    signing_secret: String,
    #[serde(default)]
    csrf_token: String,
}

/// Shows a freshly made URL: the only time Herald can, as it keeps just a hash.
fn url_page(
    req: &HttpRequest,
    state: &AppState,
    user: &SignedIn,
    title: &str,
    source: &Source,
    token: &str,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(state, "events")?;
    let url = hook_url(&state.config.base_url(), token);
    let body = html! {
        (tabs("sources"))
        section.card {
            p { "Copy this URL now and paste it into your provider's webhook settings. Herald stores only a hash of it and cannot show it again (rotate it to get a new one)." }
            p { code.secret data-copy title="Click to copy" { (url) } }
            p.muted { "Source: " (source.name) " · " (mapping(source)) }
            p { a.button href=(format!("/events/sources/{}", source.uid)) { "Done" } }
        }
    };
    Ok(render(req, Some(&nav), title, body))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let input = SpecInput {
        name: Some(form.name),
        email_path: Some(form.email_path),
        event_name: Some(form.event_name),
        event_name_path: Some(form.event_name_path),
        signature: Some(form.signature),
        signing_secret: Some(form.signing_secret),
    };
    let spec = match SourceSpec::validate(&input) {
        Ok(spec) => spec,
        Err(problem) => return Ok(redirect("/events/sources", Flash::error(problem))),
    };
    let ws = user.0.workspace.id;
    let (source, token) = state
        .store
        .write(move |conn| store::create(conn, ws, &spec))
        .await?;
    url_page(&req, &state, &user, "Event source created", &source, &token)
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<i64>,
}

async fn source_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "events")?;
    let ws = user.0.workspace.id;
    let before = query.cursor;
    let (source, counts, page) = state
        .store
        .read(|conn| {
            let Some(source) = store::get(conn, ws, &id)? else {
                return Ok::<_, StoreError>(None);
            };
            let counts = store::counts(conn, ws, source.id)?;
            let page = store::deliveries(conn, ws, source.id, before, PAGE_SIZE)?;
            Ok(Some((source, counts, page)))
        })?
        .ok_or(PageError::NotFound)?;
    let body = html! {
        (tabs("sources"))
        section.card {
            p { "URL: " code { (hook_url_hint(&source.token_prefix)) } " " (status(&source)) }
            p { (mapping(&source)) }
            p.muted { "Signature: " (source.scheme.label()) " · created " (format_time(source.created_at)) " · " (counts_cell(&counts)) }
            @if user.0.role.can_manage() { (actions(&user, &source)) }
        }
        section.card {
            h2 { "Deliveries" }
            @if page.deliveries.is_empty() {
                p.empty { "No deliveries yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Time" } th { "Outcome" } th { "Reason" } th { "Email" } th { "Event" } th { "Payload" } } }
                    tbody { @for d in &page.deliveries { (delivery_row(d)) } }
                } }
            }
            @if let Some(cursor) = page.next_cursor {
                div.pager { a href=(format!("/events/sources/{}?cursor={cursor}", source.uid)) { "Older deliveries →" } }
            }
        }
    };
    Ok(render(
        &req,
        Some(&nav),
        &format!("Event source: {}", source.name),
        body,
    ))
}

/// The common start of every button: a valid CSRF token (the route table admits only
/// owners and admins).
fn allowed(user: &SignedIn, form: &CsrfForm) -> Result<(), PageError> {
    user.check_csrf(&form.csrf_token)
}

async fn toggle(
    state: &AppState,
    user: &SignedIn,
    uid: String,
    enabled: bool,
) -> Result<HttpResponse, PageError> {
    let path = format!("/events/sources/{uid}");
    let source = user
        .write_on(state, &uid, move |conn, ws, uid| {
            store::set_enabled(conn, ws, uid, enabled)
        })
        .await?
        .ok_or(PageError::NotFound)?;
    let word = if enabled { "enabled" } else { "disabled" };
    Ok(redirect(
        &path,
        Flash::success(format!("{} {word}.", source.name)),
    ))
}

async fn enable(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    allowed(&user, &form)?;
    toggle(&state, &user, id.into_inner(), true).await
}

async fn disable(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    allowed(&user, &form)?;
    toggle(&state, &user, id.into_inner(), false).await
}

async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    allowed(&user, &form)?;
    let (source, token) = user
        .write_on(&state, &id, store::rotate)
        .await?
        .ok_or(PageError::NotFound)?;
    url_page(
        &req,
        &state,
        &user,
        "Event source URL rotated",
        &source,
        &token,
    )
}

async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    allowed(&user, &form)?;
    let removed = user.write_on(&state, &id, store::delete).await?;
    if !removed {
        return Err(PageError::NotFound);
    }
    Ok(redirect(
        "/events/sources",
        Flash::success("Event source deleted."),
    ))
}
