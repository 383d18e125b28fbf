//! Settings pages: API keys, members, the webhook signing secret, and the user's own
//! account.

mod account;
mod keys;
mod members;
mod webhooks;

use actix_web::web;
use maud::{Markup, html};

use crate::auth::csrf;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(keys::settings_page))
        .route("/settings/api-keys", web::post().to(keys::create))
        .route(
            "/settings/api-keys/{id}/revoke",
            web::post().to(keys::revoke),
        )
        .route(webhooks::ROTATE_PATH, web::post().to(webhooks::rotate))
        .route("/settings/members", web::post().to(members::add))
        .route(
            "/settings/members/{user_id}/remove",
            web::post().to(members::remove),
        )
        .route("/account", web::get().to(account::page))
        .route(
            "/account/password",
            web::post().to(account::change_password),
        );
}

/// Hidden CSRF input for a signed-in form.
fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(token); }
}
