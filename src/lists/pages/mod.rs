//! `/lists`: the workspace's lists with their member counts, a list's page with its
//! settings and members, and the forms that create, change and delete them. Every form
//! works without JavaScript, carries the CSRF token, and comes back with what was typed
//! when something is wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

mod contact;

use crate::auth::policy::Need;
use crate::contacts::{normalize_email, store as contacts};
use crate::http::extract::SignedIn;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::lists::confirm::{Joined, add_confirmed};
use crate::lists::store::{self as lists, ListInput, Member};
use crate::lists::{Counts, List, ListError, MemberStatus, OptIn, Source};
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::layout::render_with_status;
use crate::ui::{Flash, Nav, PageError, format_time, render};

const PER_PAGE: u32 = 50;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/lists", Access::Page(Need::Read), index)
        .post("/lists", Access::Page(Need::Manage), create)
        .get("/lists/{id}", Access::Page(Need::Read), show)
        .get(
            "/lists/contact/{uid}",
            Access::Page(Need::Read),
            contact::contact_page,
        )
        .post("/lists/{id}", Access::Page(Need::Manage), save)
        .post("/lists/{id}/delete", Access::Page(Need::Manage), delete)
        .post(
            "/lists/{id}/members",
            Access::Page(Need::Manage),
            add_member,
        )
        .post(
            "/lists/{id}/members/{contact}/remove",
            Access::Page(Need::Manage),
            remove_member,
        );
}

/// The list form as submitted.
#[derive(Deserialize, Default, Clone)]
pub struct ListForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    opt_in: String,
    #[serde(default)]
    public: Option<String>,
}

impl ListForm {
    fn of(list: &List) -> Self {
        ListForm {
            csrf_token: String::new(),
            name: list.name.clone(),
            description: list.description.clone(),
            opt_in: list.opt_in.as_str().into(),
            public: list.public.then(|| "on".into()),
        }
    }

    fn input(&self) -> Result<ListInput, ListError> {
        ListInput {
            name: self.name.clone(),
            description: self.description.trim().to_string(),
            opt_in: OptIn::parse(&self.opt_in).unwrap_or(OptIn::Single),
            public: self.public.is_some(),
        }
        .validate()
    }
}

fn list_fields(form: &ListForm, token: &str, action: &str, submit: &str) -> Markup {
    let double = form.opt_in == "double";
    html! {
        form.stack method="post" action=(action) {
            (csrf_input(token))
            label { "Name" input type="text" name="name" required maxlength="200" value=(form.name); }
            label { "Description (shown on the preferences page)" textarea name="description" maxlength="2000" rows="2" { (form.description) } }
            fieldset {
                legend { "Opt-in" }
                label.check { input type="radio" name="opt_in" value="single" checked[!double]; " Single: a signup joins at once" }
                label.check { input type="radio" name="opt_in" value="double" checked[double]; " Double: a signup joins only after clicking the link in a confirmation email" }
            }
            label.check { input type="checkbox" name="public" checked[form.public.is_some()]; " Public: contacts see it on their preferences page and forms may offer it" }
            button type="submit" { (submit) }
        }
    }
}

fn counts_cells(c: &Counts) -> Markup {
    html! { td { (c.confirmed) } td { (c.unconfirmed) } td { (c.unsubscribed) } }
}

fn index_body(
    found: &[(List, Counts)],
    user: &SignedIn,
    form: &ListForm,
    error: Option<&str>,
) -> Markup {
    html! {
        section.card {
            h1 { "Lists" }
            @if found.is_empty() {
                p.empty { "No lists yet. A list is an audience contacts join by signing up, through a form, the API, an automation or by hand." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Opt-in" } th { "Visibility" } th { "Confirmed" } th { "Unconfirmed" } th { "Unsubscribed" } } }
                    tbody { @for (list, counts) in found {
                        tr {
                            td { a href=(format!("/lists/{}", list.uid)) { (list.name) } }
                            td { (list.opt_in.as_str()) }
                            td { @if list.public { "public" } @else { "private" } }
                            (counts_cells(counts))
                        }
                    } }
                } }
            }
        }
        @if user.0.role.can_manage() {
            section.card.narrow {
                h2 { "New list" }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                (list_fields(form, &user.0.csrf_token, "/lists", "Create list"))
            }
        }
    }
}

fn all_with_counts(
    state: &AppState,
    ws: crate::kinds::WorkspaceId,
) -> Result<Vec<(List, Counts)>, ListError> {
    state.store.read(|conn| {
        lists::all(conn, ws)?
            .into_iter()
            .map(|l| {
                let c = lists::counts(conn, l.id)?;
                Ok((l, c))
            })
            .collect()
    })
}

async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "lists")?;
    let found = all_with_counts(&state, user.0.workspace.id)?;
    let form = ListForm {
        public: Some("on".into()),
        ..ListForm::default()
    };
    Ok(render(
        &req,
        Some(&nav),
        "Lists",
        index_body(&found, &user, &form, None),
    ))
}

/// A list form mistake: the page again, 422, with what was typed and the message.
fn form_again(
    req: &HttpRequest,
    nav: &Nav,
    title: &str,
    body: Markup,
) -> Result<HttpResponse, PageError> {
    Ok(render_with_status(
        req,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(nav),
        title,
        body,
    ))
}

fn user_error(e: ListError) -> Result<String, PageError> {
    match e {
        ListError::Store(e) => Err(e.into()),
        other => Ok(other.to_string()),
    }
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<ListForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let ws = user.0.workspace.id;
    let created = match form.input() {
        Ok(input) => {
            state
                .store
                .write(move |conn| lists::create(conn, ws, &input))
                .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(list) => Ok(redirect(
            &format!("/lists/{}", list.uid),
            Flash::success(format!("List {} created.", list.name)),
        )),
        Err(e) => {
            let message = user_error(e)?;
            let nav = user.nav(&state, "lists")?;
            let found = all_with_counts(&state, ws)?;
            form_again(
                &req,
                &nav,
                "Lists",
                index_body(&found, &user, &form, Some(&message)),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct MembersQuery {
    status: Option<String>,
    after: Option<i64>,
}

/// One list's page as shown: the list, its counts and a page of its members.
struct Shown {
    list: List,
    counts: Counts,
    members: Vec<Member>,
    status: Option<MemberStatus>,
}

fn load(
    state: &AppState,
    user: &SignedIn,
    uid: &str,
    query: &MembersQuery,
) -> Result<Shown, PageError> {
    let ws = user.0.workspace.id;
    let status = query.status.as_deref().and_then(MemberStatus::parse);
    let after = query.after.unwrap_or(0);
    Ok(state.store.read(|conn| -> Result<_, ListError> {
        let list = lists::get(conn, ws, uid)?.ok_or(ListError::NotFound)?;
        let counts = lists::counts(conn, list.id)?;
        let members = lists::members(conn, list.id, status, after, PER_PAGE)?;
        Ok(Shown {
            list,
            counts,
            members,
            status,
        })
    })?)
}

fn status_filter(shown: &Shown) -> Markup {
    let base = format!("/lists/{}", shown.list.uid);
    html! {
        nav.tabs aria-label="Member state" {
            a href=(base) class=@if shown.status.is_none() { "active" } { "All" }
            @for s in [MemberStatus::Confirmed, MemberStatus::Unconfirmed, MemberStatus::Unsubscribed] {
                a href=(format!("{base}?status={}", s.as_str())) class=@if shown.status == Some(s) { "active" } { (s.as_str()) }
            }
        }
    }
}

fn members_table(shown: &Shown, user: &SignedIn) -> Markup {
    let uid = &shown.list.uid;
    let next = (shown.members.len() == PER_PAGE as usize)
        .then(|| shown.members.last().map(|m| m.contact_id))
        .flatten();
    html! {
        (status_filter(shown))
        @if shown.members.is_empty() {
            p.empty { "No members here yet." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Contact" } th { "State" } th { "Source" } th { "Since" } th {} } }
                tbody { @for m in &shown.members {
                    tr {
                        td { a href=(format!("/contacts/{}", m.contact_uid)) { (m.email.as_deref().unwrap_or("(no email)")) } }
                        td { (m.status.as_str()) }
                        td { (m.source) }
                        td { (format_time(m.changed_at)) }
                        td { @if user.0.role.can_manage() {
                            (danger_button(&format!("/lists/{uid}/members/{}/remove", m.contact_uid), "Remove this contact from the list?", &user.0.csrf_token, "Remove"))
                        } }
                    }
                } }
            } }
            @if let Some(after) = next {
                nav.pager { a rel="next" href=(format!("/lists/{uid}?after={after}{}", shown.status.map(|s| format!("&status={}", s.as_str())).unwrap_or_default())) { "Next →" } }
            }
        }
    }
}

fn show_body(shown: &Shown, user: &SignedIn, form: &ListForm, error: Option<&str>) -> Markup {
    let list = &shown.list;
    let c = &shown.counts;
    let total = c.confirmed + c.unconfirmed + c.unsubscribed;
    html! {
        p { a href="/lists" { "← Lists" } }
        section.card {
            h1 { (list.name) }
            @if !list.description.is_empty() { p { (list.description) } }
            div.stats {
                div.stat { span.num { (c.confirmed) } span.label { "Confirmed" } }
                div.stat { span.num { (c.unconfirmed) } span.label { "Unconfirmed" } }
                div.stat { span.num { (c.unsubscribed) } span.label { "Unsubscribed" } }
            }
            p.muted { (list.opt_in.as_str()) " opt-in · " @if list.public { "public" } @else { "private" } " · created " (format_time(list.created_at)) }
        }
        section.card {
            h2 { "Members" }
            @if user.0.role.can_manage() {
                form.row method="post" action=(format!("/lists/{}/members", list.uid)) {
                    (csrf_input(&user.0.csrf_token))
                    label { "Add a contact by email" input type="email" name="email" required placeholder="ada@example.com"; }
                    button type="submit" { "Add (confirmed)" }
                }
            }
            (members_table(shown, user))
        }
        @if user.0.role.can_manage() {
            section.card.narrow {
                h2 { "Settings" }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                (list_fields(form, &user.0.csrf_token, &format!("/lists/{}", list.uid), "Save"))
            }
            section.card.narrow {
                h2 { "Delete" }
                p.muted { "Deleting the list removes its " (total) " membership" @if total != 1 { "s" } " and their history. Contacts stay." }
                (danger_button(&format!("/lists/{}/delete", list.uid), &format!("Delete the list {} and its {total} memberships?", list.name), &user.0.csrf_token, "Delete list"))
            }
        }
    }
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "lists")?;
    let shown = load(&state, &user, &id, &query)?;
    let form = ListForm::of(&shown.list);
    let title = shown.list.name.clone();
    Ok(render(
        &req,
        Some(&nav),
        &title,
        show_body(&shown, &user, &form, None),
    ))
}

async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<ListForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let ws = user.0.workspace.id;
    let uid = id.into_inner();
    let saved = match form.input() {
        Ok(input) => {
            let uid = uid.clone();
            state
                .store
                .write(move |conn| lists::update(conn, ws, &uid, &input))
                .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(list) => Ok(redirect(
            &format!("/lists/{}", list.uid),
            Flash::success("List saved."),
        )),
        Err(ListError::NotFound) => Err(PageError::NotFound),
        Err(e) => {
            let message = user_error(e)?;
            let nav = user.nav(&state, "lists")?;
            let query = MembersQuery {
                status: None,
                after: None,
            };
            let shown = load(&state, &user, &uid, &query)?;
            let title = shown.list.name.clone();
            form_again(
                &req,
                &nav,
                &title,
                show_body(&shown, &user, &form, Some(&message)),
            )
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
    let ws = user.0.workspace.id;
    let uid = id.into_inner();
    let had = state
        .store
        .write(move |conn| lists::delete(conn, ws, &uid))
        .await?;
    let total = had.confirmed + had.unconfirmed + had.unsubscribed;
    Ok(redirect(
        "/lists",
        Flash::success(format!("List deleted with its {total} memberships.")),
    ))
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

async fn add_member(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let uid = id.into_inner();
    let back = format!("/lists/{uid}");
    let email = match normalize_email(&form.email) {
        Ok(e) => e,
        Err(e) => return Ok(redirect(&back, Flash::error(e.to_string()))),
    };
    let shown = email.clone();
    let added = state
        .store
        .write(move |conn| -> Result<Option<Joined>, ListError> {
            let list = lists::get(conn, ws, &uid)?.ok_or(ListError::NotFound)?;
            let Some(contact) = contacts::find_by_email(conn, ws, &email)? else {
                return Ok(None);
            };
            Ok(Some(add_confirmed(conn, ws, &contact, &list, Source::Ui)?))
        })
        .await?;
    let flash = match added {
        None => Flash::error(format!(
            "No contact has the email {shown}. Add the contact first."
        )),
        Some(Joined::Now) => Flash::success(format!("{shown} joined the list.")),
        Some(Joined::Already) => Flash::success(format!("{shown} was already a confirmed member.")),
        Some(Joined::OptedOut) => Flash::error(format!(
            "{shown} unsubscribed from this list; only they can join it again, through a signup form or their preferences page."
        )),
    };
    Ok(redirect(&back, flash))
}

async fn remove_member(
    state: web::Data<AppState>,
    user: SignedIn,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let (uid, contact_uid) = path.into_inner();
    let back = format!("/lists/{uid}");
    let removed = state
        .store
        .write(move |conn| -> Result<lists::Removed, ListError> {
            let list = lists::get(conn, ws, &uid)?.ok_or(ListError::NotFound)?;
            let contact = contacts::get(conn, ws, &contact_uid)?;
            lists::remove(conn, ws, &list, contact.id, Source::Ui)
        })
        .await?;
    let flash = match removed {
        lists::Removed::Yes => Flash::success("Member removed."),
        lists::Removed::NotMember => Flash::error("That contact is not a member of this list."),
        lists::Removed::KeptUnsubscribed => Flash::error(
            "That contact unsubscribed from this list; its choice is kept, so it stays listed as unsubscribed.",
        ),
    };
    Ok(redirect(&back, flash))
}
