//! Settings pages: API keys, members, the webhook signing secret, and the user's own
//! account.

mod account;
mod keys;
mod members;
mod webhooks;

use crate::auth::policy::Need;
use crate::http::routes::{Access, Routes};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/settings", Access::Page(Need::Read), keys::settings_page)
        .post(
            "/settings/api-keys",
            Access::Page(Need::Manage),
            keys::create,
        )
        .post(
            "/settings/api-keys/{id}/revoke",
            Access::Page(Need::Manage),
            keys::revoke,
        )
        .post(
            webhooks::ROTATE_PATH,
            Access::Page(Need::Manage),
            webhooks::rotate,
        )
        .post(
            "/settings/members",
            Access::Page(Need::Manage),
            members::add,
        )
        .post(
            "/settings/members/{user_id}/remove",
            Access::Page(Need::Manage),
            members::remove,
        )
        .get("/account", Access::Page(Need::Read), account::page)
        .post(
            "/account/password",
            Access::Page(Need::Read),
            account::change_password,
        );
}
