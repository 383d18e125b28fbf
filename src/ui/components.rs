//! Markup and responses shared by every page: the CSRF field of signed-in forms and the
//! 303 redirects that end a form post.

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use maud::{Markup, html};

use super::Flash;
use super::csrf;

/// The hidden CSRF field a state-changing form carries.
pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(token); }
}

/// A 303 See Other to `path`, to add cookies to before `finish()`.
pub fn see_other(path: &str) -> HttpResponseBuilder {
    let mut builder = HttpResponse::SeeOther();
    builder.insert_header((header::LOCATION, path.to_string()));
    builder
}

/// A 303 to `path` carrying a one-time message.
pub fn redirect(path: &str, flash: Flash) -> HttpResponse {
    see_other(path).cookie(flash.cookie()).finish()
}

/// A one-button form that posts to `action` after the browser confirms `confirm`: the
/// delete, remove, revoke and rotate buttons of every page.
pub fn danger_button(action: &str, confirm: &str, token: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=(confirm) {
            (csrf_input(token))
            button.danger type="submit" { (label) }
        }
    }
}
