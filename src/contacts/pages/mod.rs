//! Contacts pages: the searchable list, a contact's page with its timeline, add / edit /
//! delete forms, custom field declarations, CSV import (upload → mapping → progress) and
//! the CSV download. Server-rendered; every form works without JavaScript and carries the
//! session's CSRF token.

mod contact;
mod edit;
mod fields;
mod imports;
mod list;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::app::AppState;
use crate::auth::csrf;
use crate::auth::extract::SignedIn;
use crate::contacts::ContactError;
use crate::ui::{Flash, PageError};

/// Routes of this module; fixed paths come before `/contacts/{id}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/contacts", web::get().to(list::page))
        .route("/contacts/new", web::get().to(edit::new_page))
        .route("/contacts/new", web::post().to(edit::create))
        .route("/contacts/fields", web::get().to(fields::page))
        .route("/contacts/fields", web::post().to(fields::declare))
        .route(
            "/contacts/fields/{key}/delete",
            web::post().to(fields::remove),
        )
        .route("/contacts/export", web::get().to(export))
        .route("/contacts/import", web::get().to(imports::upload_page))
        .route("/contacts/import", web::post().to(imports::upload))
        .route(
            "/contacts/import/{uid}",
            web::get().to(imports::mapping_page),
        )
        .route("/contacts/import/{uid}", web::post().to(imports::start))
        .route(
            "/contacts/imports/{id}",
            web::get().to(imports::progress_page),
        )
        .route("/contacts/{id}", web::get().to(contact::page))
        .route("/contacts/{id}/edit", web::get().to(edit::edit_page))
        .route("/contacts/{id}/edit", web::post().to(edit::save))
        .route("/contacts/{id}/delete", web::get().to(edit::delete_page))
        .route("/contacts/{id}/delete", web::post().to(edit::delete));
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

fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(token); }
}

/// A 303 to `path` carrying a one-time message.
fn redirect(path: &str, flash: Flash) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path.to_string()))
        .cookie(flash.cookie())
        .finish()
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
