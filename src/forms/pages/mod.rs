//! `/forms`: the workspace's forms with their counts; a form's page with its hosted
//! address, embed snippet, conversion, latest submissions and spam blocks; the editor
//! ([`editor`]); and delete. Everything works without JavaScript.

mod editor;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::hosted::snippet;
use super::store::{self as forms, SpamRow, SubmissionRow};
use super::{Form, FormError, PUBLIC_PATH, Stats};
use crate::auth::policy::Need;
use crate::http::extract::SignedIn;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::lists::List;
use crate::ui::components::{danger_button, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::{Flash, PageError, format_time, render};

/// Latest submissions and spam blocks shown on a form's page.
const RECENT: u32 = 20;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/forms", Access::Page(Need::Read), index)
        .post("/forms", Access::Page(Need::Manage), editor::create)
        .get("/forms/new", Access::Page(Need::Manage), editor::new_page)
        .get("/forms/{id}", Access::Page(Need::Read), show)
        .post("/forms/{id}", Access::Page(Need::Manage), editor::update)
        .get(
            "/forms/{id}/edit",
            Access::Page(Need::Manage),
            editor::edit_page,
        )
        .post("/forms/{id}/delete", Access::Page(Need::Manage), delete);
}

/// The user's form with this id; another workspace's is not found.
fn find(state: &AppState, user: &SignedIn, uid: &str) -> Result<Form, PageError> {
    let ws = user.0.workspace.id;
    state
        .store
        .read(|conn| forms::get(conn, ws, uid))?
        .ok_or(PageError::NotFound)
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "forms")?;
    let ws = user.0.workspace.id;
    let found = state
        .store
        .read_async(move |conn| -> Result<Vec<(Form, Stats)>, FormError> {
            forms::all(conn, ws)?
                .into_iter()
                .map(|f| {
                    let stats = forms::stats(conn, f.id)?;
                    Ok((f, stats))
                })
                .collect()
        })
        .await?;
    let body = html! {
        section.card {
            @if user.0.role.can_manage() { p { a.button href="/forms/new" { "New form" } } }
            @if found.is_empty() {
                p.empty { "No forms yet. A form is a signup page Herald hosts, and a snippet to paste into your own site; both turn a signup into a contact, a consent record and list memberships." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Address" } th { "Views" } th { "Submissions" } th { "Hosted conversion" } th { "Spam blocked" } } }
                    tbody { @for (form, stats) in &found {
                        tr {
                            td { a href=(format!("/forms/{}", form.uid)) { (form.name) } }
                            td { a href=(format!("{PUBLIC_PATH}{}", form.slug)) { code { (PUBLIC_PATH) (form.slug) } } }
                            td { (stats.hosted_views + stats.script_views) }
                            td { (stats.submissions()) }
                            td { (percent(stats.hosted_submissions, stats.hosted_views)) }
                            td { (stats.spam()) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Forms", body))
}

/// One form's page as shown.
struct Shown {
    form: Form,
    stats: Stats,
    submissions: Vec<SubmissionRow>,
    spam: Vec<SpamRow>,
    lists: Vec<Option<List>>,
    snippet: String,
}

fn load(state: &AppState, user: &SignedIn, uid: &str) -> Result<Shown, PageError> {
    let form = find(state, user, uid)?;
    let base = state.config.base_url();
    Ok(state.store.read(move |conn| -> Result<Shown, FormError> {
        let public = super::submit::public_form(conn, &form.slug)?.ok_or(FormError::NotFound)?;
        let lists = form
            .def
            .list_ids
            .iter()
            .map(|uid| crate::lists::store::get(conn, form.workspace_id, uid))
            .collect::<Result<_, _>>()?;
        Ok(Shown {
            stats: forms::stats(conn, form.id)?,
            submissions: forms::recent_submissions(conn, form.id, RECENT)?,
            spam: forms::recent_spam(conn, form.id, RECENT)?,
            lists,
            snippet: snippet(&public.form, &public.declared, &public.offered, &base),
            form,
        })
    })?)
}

fn stats_section(s: &Stats) -> Markup {
    let stat =
        |n: String, label: &str| html! { div.stat { span.num { (n) } span.label { (label) } } };
    html! {
        section.card {
            h2 { "Conversion" }
            div.stats {
                (stat(s.hosted_views.to_string(), "Hosted page views"))
                (stat(s.hosted_submissions.to_string(), "Hosted page submissions"))
                (stat(percent(s.hosted_submissions, s.hosted_views), "Hosted conversion"))
                (stat(s.script_views.to_string(), "Embed views (script)"))
                (stat(s.embed_submissions.to_string(), "Embed submissions"))
                (stat(s.direct_submissions.to_string(), "Direct (API, no Origin)"))
            }
            p.muted { "Embeds with JavaScript off are not seen when they load, only when they post, so embed submissions can outnumber embed views." }
            div.stats {
                (stat(s.honeypot.to_string(), "Honeypot"))
                (stat(s.too_fast.to_string(), "Too fast"))
                (stat(s.rate_limited.to_string(), "Over the rate"))
            }
        }
    }
}

fn activity_section(shown: &Shown) -> Markup {
    html! {
        section.card {
            h2 { "Latest submissions" }
            @if shown.submissions.is_empty() { p.empty { "No submissions yet." } } @else {
                div.table-wrap { table {
                    thead { tr { th { "Contact" } th { "From" } th { "IP" } th { "When" } } }
                    tbody { @for s in &shown.submissions { tr {
                        td { @match (&s.contact_uid, &s.email) {
                            (Some(uid), email) => { a href=(format!("/contacts/{uid}")) { (email.as_deref().unwrap_or("(no email)")) } }
                            _ => { span.muted { "(erased)" } }
                        } }
                        td { (s.via) }
                        td { (s.ip.as_deref().unwrap_or("—")) }
                        td { (format_time(s.created_at)) }
                    } } }
                } }
            }
        }
        section.card {
            h2 { "Latest spam blocks" }
            @if shown.spam.is_empty() { p.empty { "Nothing blocked." } } @else {
                div.table-wrap { table {
                    thead { tr { th { "Reason" } th { "IP" } th { "When" } } }
                    tbody { @for s in &shown.spam { tr {
                        td { (s.reason) } td { (s.ip.as_deref().unwrap_or("—")) } td { (format_time(s.created_at)) }
                    } } }
                } }
            }
        }
    }
}

fn show_body(shown: &Shown, user: &SignedIn, base: &str) -> Markup {
    let form = &shown.form;
    let hosted = format!("{base}{PUBLIC_PATH}{}", form.slug);
    html! {
        p { a href="/forms" { "← Forms" } }
        section.card {
            p { "Hosted page: " a href=(hosted) { (hosted) } }
            p.muted {
                "Lists: "
                @if shown.lists.is_empty() { "none" }
                @for (i, list) in shown.lists.iter().enumerate() {
                    @if i > 0 { ", " }
                    @match list { Some(l) => { (l.name) " (" (l.opt_in.as_str()) ")" } None => { span.error { "a deleted list" } } }
                }
                " · event " code { (form.def.event_name) }
                " · minimum fill time " (form.def.min_fill_seconds) " s"
            }
            @if user.0.role.can_manage() { p { a.button href=(format!("/forms/{}/edit", form.uid)) { "Edit form" } } }
        }
        (stats_section(&shown.stats))
        section.card {
            h2 { "Embed on your site" }
            p { "Paste this into a page. The form works as plain HTML, with JavaScript off; the script line is optional and shows the answer in place instead of leaving the page." }
            pre { code data-copy { (shown.snippet) } }
            p.muted { "Allowed origins: " (form.def.allowed_origins.join(", ")) ". A submission from another origin is refused." }
        }
        section.card {
            h2 { "Automations" }
            p { "Every submission records the event " code { (form.def.event_name) } " with " code { "formId" } " = " code { (form.uid) } ". To start an automation on this form, choose the trigger " em { "Event received" } " with the event " code { (form.def.event_name) } " and, if other forms record the same event, the filter " code { "event.formId" } " equals " code { (form.uid) } "." }
            @if user.0.role.can_manage() { p { a href="/automations/new" { "New automation →" } } }
        }
        (activity_section(shown))
        @if user.0.role.can_manage() {
            section.card.narrow {
                h2 { "Delete" }
                p.muted { "Deleting the form removes its submissions, spam blocks and counts. Contacts, their consent records and memberships stay." }
                (danger_button(&format!("/forms/{}/delete", form.uid), &format!("Delete the form {}?", form.name), &user.0.csrf_token, "Delete form"))
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
    let nav = user.nav(&state, "forms")?;
    let shown = load(&state, &user, &id)?;
    let title = shown.form.name.clone();
    let body = show_body(&shown, &user, &state.config.base_url());
    Ok(render(&req, Some(&nav), &title, body))
}

async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let removed = user.write_on(&state, &id, forms::delete).await?;
    Ok(redirect(
        "/forms",
        Flash::success(format!("Form {} deleted.", removed.name)),
    ))
}
