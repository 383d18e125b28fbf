//! Contacts pages: the searchable list, a contact's page with its timeline, add / edit /
//! delete forms, custom field declarations, CSV import (upload → mapping → progress) and
//! the CSV download. Server-rendered; every form works without JavaScript and carries the
//! session's CSRF token.

mod contact;
mod edit;
mod fields;
mod imports;
mod list;

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::contacts::ContactError;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::redirect;
use crate::ui::{Flash, PageError};

/// Routes of this module; fixed paths come before `/contacts/{id}`.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/contacts", Access::Page(Need::Read), list::page)
        .get("/contacts/new", Access::Page(Need::Manage), edit::new_page)
        .post("/contacts/new", Access::Page(Need::Manage), edit::create)
        .get("/contacts/fields", Access::Page(Need::Read), fields::page)
        .post(
            "/contacts/fields",
            Access::Page(Need::Manage),
            fields::declare,
        )
        .post(
            "/contacts/fields/{key}/delete",
            Access::Page(Need::Manage),
            fields::remove,
        )
        .get("/contacts/export", Access::Page(Need::Read), export)
        .get(
            "/contacts/import",
            Access::Page(Need::Manage),
            imports::upload_page,
        )
        .post(
            "/contacts/import",
            Access::Page(Need::Manage),
            imports::upload,
        )
        .get(
            "/contacts/import/{uid}",
            Access::Page(Need::Manage),
            imports::mapping_page,
        )
        .post(
            "/contacts/import/{uid}",
            Access::Page(Need::Manage),
            imports::start,
        )
        .get(
            "/contacts/imports/{id}",
            Access::Page(Need::Read),
            imports::progress_page,
        )
        .get("/contacts/{id}", Access::Page(Need::Read), contact::page)
        .get(
            "/contacts/{id}/edit",
            Access::Page(Need::Manage),
            edit::edit_page,
        )
        .post(
            "/contacts/{id}/edit",
            Access::Page(Need::Manage),
            edit::save,
        )
        .get(
            "/contacts/{id}/delete",
            Access::Page(Need::Manage),
            edit::delete_page,
        )
        .post(
            "/contacts/{id}/delete",
            Access::Page(Need::Manage),
            edit::delete,
        );
}

/// `GET /contacts/export`: the same CSV as the API, for the signed-in workspace.
async fn export(state: web::Data<AppState>, user: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(crate::contacts::export::csv_response(state.store.clone(), user.0.workspace.id).await?)
}

/// The sub-navigation of the Contacts area.
fn tabs(active: &str) -> Markup {
    html! {
        nav.tabs aria-label="Contacts" {
            @for (key, href, label) in [("list", "/contacts", "All contacts"), ("fields", "/contacts/fields", "Fields"), ("import", "/contacts/import", "Import")] {
                a href=(href) class=@if key == active { "active" } { (label) }
            }
        }
    }
}

/// A form mistake goes back to the form as a message; only store failures are errors.
fn back_with_error(path: &str, e: ContactError) -> Result<HttpResponse, PageError> {
    match e {
        ContactError::Store(e) => Err(e.into()),
        ContactError::NotFound => Err(PageError::NotFound),
        other => Ok(redirect(path, Flash::error(other.to_string()))),
    }
}

/// The value of a submitted form field ("" when absent).
fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

impl From<ContactError> for crate::ui::PageError {
    fn from(e: ContactError) -> Self {
        use crate::ui::PageError;
        match e {
            ContactError::Invalid(m) | ContactError::Conflict(m) => PageError::BadRequest(m),
            ContactError::NotFound | ContactError::Missing(_) => PageError::NotFound,
            ContactError::Store(e) => e.into(),
        }
    }
}
