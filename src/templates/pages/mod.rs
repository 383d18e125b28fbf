//! Template pages: the list with "used by", the editor with a sandboxed preview, "send
//! test", and delete (refused while an automation uses the template). Every form works
//! without JavaScript and carries the session's CSRF token.

mod form;

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use crate::ui::csrf::CsrfForm;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::store::{self, Deletion};
use crate::delivery::test_send::{self, TestSendError};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::redirect;
use crate::ui::{Flash, PageError, format_time, render};

/// Routes of this module; fixed paths come before `/templates/{id}`.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/templates", Access::Page(Need::Read), list)
        .get("/templates/new", Access::Page(Need::Manage), form::new_page)
        .post(
            "/templates/new",
            Access::Page(Need::Manage),
            form::submit_new,
        )
        .post_query(
            "/templates/preview",
            Access::Page(Need::Read),
            form::live_preview,
        )
        .get("/templates/{id}", Access::Page(Need::Read), form::edit_page)
        .post(
            "/templates/{id}",
            Access::Page(Need::Manage),
            form::submit_edit,
        )
        .post(
            "/templates/{id}/test",
            Access::Page(Need::Manage),
            send_test,
        )
        .post("/templates/{id}/delete", Access::Page(Need::Manage), delete);
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "templates")?;
    let ws = user.0.workspace.id;
    let rows = state.store.read(|conn| store::list_with_users(conn, ws))?;
    let body = html! {
        p { a.button href="/templates/new" { "New template" } " " a.button href="/templates/new?kind=sms" { "New SMS text" } " " a.button href="/templates/new?kind=whatsapp" { "New WhatsApp text" } }
        @if rows.is_empty() {
            p.empty { "No templates yet. A template is the subject, HTML and text of an email, in Handlebars syntax: " code { "{{contact.firstName}}" } "." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Subject" } th { "Updated" } th { "Used by" } } }
                tbody {
                    @for (t, users) in &rows {
                        tr {
                            td { a href=(format!("/templates/{}", t.uid)) { (t.name) } }
                            td { (t.subject) }
                            td { (format_time(t.updated_at)) }
                            td {
                                @if users.is_empty() { span.muted { "—" } } @else { (users.join(", ")) }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(render(&req, Some(&nav), "Templates", body))
}

#[derive(Deserialize)]
struct TestForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    to: String,
}

/// Queues a `test` message rendered for a sample contact at the given address.
async fn send_test(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<TestForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let uid = id.into_inner();
    let back = format!("/templates/{uid}");
    let to = match crate::contacts::normalize_email(&form.to) {
        Ok(to) => to,
        Err(e) => return Ok(redirect(&back, Flash::error(e.to_string()))),
    };
    let queued = test_send::queue(
        &state.store,
        user.0.workspace.id,
        &uid,
        to.clone(),
        state.config.base_url(),
    )
    .await;
    match queued {
        Err(TestSendError::NotFound) => Err(PageError::NotFound),
        Err(e @ TestSendError::Render(_)) => Ok(redirect(&back, Flash::error(e.to_string()))),
        Err(TestSendError::Store(e)) => Err(e.into()),
        Ok(message) => Ok(redirect(
            &format!("{back}?sent={message}"),
            Flash::success(format!(
                "Test message to {to} queued; see it in the Outbox."
            )),
        )),
    }
}

/// Deletes a template unless an automation still uses it.
async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let uid = id.into_inner();
    let outcome = user.write_on(&state, &uid, store::delete_unused).await?;
    match outcome {
        Deletion::Deleted => Ok(redirect("/templates", Flash::success("Template deleted."))),
        Deletion::NotFound => Err(PageError::NotFound),
        Deletion::InUse(users) => Ok(redirect(
            &format!("/templates/{uid}"),
            Flash::error(format!(
                "This template is used by: {}. Stop using it there before deleting it.",
                users.join(", ")
            )),
        )),
    }
}
