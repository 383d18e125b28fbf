//! Automation pages: the list with enrollment counts and pause / resume / activate, the
//! builder (a no-JavaScript editor where every button posts the whole draft back), the
//! automation page with its trigger inspector and enrollments, and a contact's enrollments.

mod editor;
mod form;
mod list;
mod ops;
mod sections;
mod steps;
mod view;

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use crate::ui::csrf::CsrfForm;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::definition::Status;
use super::engine::requeue_if_active;
use super::store;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, redirect};
use crate::ui::{Flash, PageError};

/// Routes of this module; fixed paths come before `/automations/{id}`.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/automations", Access::Page(Need::Read), list::page)
        .get(
            "/automations/new",
            Access::Page(Need::Manage),
            editor::new_page,
        )
        .post(
            "/automations/new",
            Access::Page(Need::Manage),
            editor::submit_new,
        )
        .get(
            "/automations/contact/{uid}",
            Access::Page(Need::Read),
            view::contact_page,
        )
        .get("/automations/{id}", Access::Page(Need::Read), view::page)
        .get(
            "/automations/{id}/edit",
            Access::Page(Need::Manage),
            editor::edit_page,
        )
        .post(
            "/automations/{id}/edit",
            Access::Page(Need::Manage),
            editor::submit_edit,
        )
        .post(
            "/automations/{id}/status",
            Access::Page(Need::Manage),
            set_status,
        )
        .post(
            "/automations/{id}/delete",
            Access::Page(Need::Manage),
            delete,
        );
}

/// `/events?eventName=…`: the event log pre-filtered to one name.
fn log_url(event: &str) -> String {
    format!(
        "/events?{}",
        serde_urlencoded::to_string([("eventName", event)]).unwrap_or_default()
    )
}

fn status_badge(status: Status) -> Markup {
    let class = match status {
        Status::Active => "badge good",
        Status::Paused => "badge warn",
        Status::Draft => "badge",
    };
    html! { span class=(class) { (status.as_str()) } }
}

/// An enrollment state or a message status, coloured by what it means.
fn state_badge(state: &str) -> Markup {
    let class = match state {
        "completed" | "sent" | "delivered" | "opened" | "clicked" => "badge good",
        "failed" | "bounced" | "complained" => "badge bad",
        "exited" | "queued" | "sending" | "skipped" | "waiting" | "active" => "badge warn",
        _ => "badge",
    };
    html! { span class=(class) { (state) } }
}

/// The buttons that move an automation between draft, active and paused.
fn status_buttons(token: &str, uid: &str, status: Status, back: &str) -> Markup {
    let (target, label) = match status {
        Status::Active => ("paused", "Pause"),
        Status::Paused => ("active", "Resume"),
        Status::Draft => ("active", "Activate"),
    };
    html! {
        form.inline method="post" action=(format!("/automations/{uid}/status")) {
            (csrf_input(token))
            input type="hidden" name="status" value=(target);
            input type="hidden" name="back" value=(back);
            button type="submit" { (label) }
        }
    }
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    back: String,
}

/// Pause, resume or activate; resuming queues the enrollments that stalled meanwhile.
async fn set_status(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let status = match form.status.as_str() {
        "active" => Status::Active,
        "paused" => Status::Paused,
        "draft" => Status::Draft,
        _ => return Err(PageError::BadRequest("Unknown status.".into())),
    };
    let ws = user.0.workspace.id;
    let uid = id.into_inner();
    let target = uid.clone();
    let name = state
        .store
        .write(move |conn| -> Result<Option<String>, PageError> {
            let Some(a) = store::set_status(conn, ws, &target, status)? else {
                return Ok(None);
            };
            requeue_if_active(conn, &a)?;
            Ok(Some(a.def.name.clone()))
        })
        .await?
        .ok_or(PageError::NotFound)?;
    let back = if form.back == "view" {
        format!("/automations/{uid}")
    } else {
        "/automations".to_string()
    };
    Ok(redirect(
        &back,
        Flash::success(format!("{name} is now {}.", status.as_str())),
    ))
}

/// Deletes an automation with its enrollments.
async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let gone = user.write_on(&state, &id, store::delete).await?;
    if gone {
        Ok(redirect(
            "/automations",
            Flash::success("Automation deleted."),
        ))
    } else {
        Err(PageError::NotFound)
    }
}
