//! The signed-in user's own account: change password (which ends every other session).

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use crate::auth::passwords::{check_password_rules, hash_password, verify_password};
use crate::auth::{AuthError, accounts, sessions};
use crate::http::extract::SignedIn;
use crate::http::extract::session_cookie;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, redirect, see_other};
use crate::ui::{Flash, PageError, render};

/// The account page.
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "account")?;
    let body = html! {
        section.card.narrow {
            p { "Signed in as " strong { (user.0.email) } " · role " (user.0.role) " in " (user.0.workspace.name) }
            h2 { "Change password" }
            p.muted { "Changing your password signs you out everywhere else." }
            form method="post" action="/account/password" {
                (csrf_input(&user.0.csrf_token))
                label { "Current password" input type="password" name="current" required autocomplete="current-password"; }
                label { "New password" input type="password" name="new" required minlength="8" autocomplete="new-password"; }
                label { "Repeat new password" input type="password" name="confirm" required minlength="8" autocomplete="new-password"; }
                button type="submit" { "Change password" }
            }
        }
    };
    Ok(render(&req, Some(&nav), "Account", body))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
    #[serde(default)]
    csrf_token: String,
}

fn back(flash: Flash) -> HttpResponse {
    redirect("/account", flash)
}

/// Changes the password, revokes all sessions and signs this browser in afresh.
pub async fn change_password(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    if let Err(problem) = check_password_rules(&form.new) {
        return Ok(back(Flash::error(problem)));
    }
    if form.new != form.confirm {
        return Ok(back(Flash::error("The new passwords do not match.")));
    }
    let user_id = user.0.user_id;
    let stored = state
        .store
        .read(|conn| accounts::find_user(conn, user_id))?
        .ok_or(PageError::NotFound)?;
    let (current, new) = (form.current, form.new);
    let hash = web::block(move || {
        verify_password(&current, &stored.password_hash).then(|| hash_password(&new))
    })
    .await
    .map_err(|_| PageError::Unavailable("Password change is unavailable.".into()))?;
    let Some(hash) = hash else {
        return Ok(back(Flash::error("The current password is wrong.")));
    };
    let ws = user.0.workspace.id;
    let ttl = state.config.auth.session_ttl_hours as i64 * 3_600_000;
    let token = state
        .store
        .write(move |conn| -> Result<String, AuthError> {
            accounts::set_password_hash(conn, user_id, &hash)?;
            sessions::delete_all_for_user(conn, user_id)?;
            sessions::create(conn, user_id, ws, ttl)
        })
        .await?;
    Ok(see_other("/account")
        .cookie(session_cookie(&state, token))
        .cookie(
            Flash::success("Password changed. Every other session has been signed out.").cookie(),
        )
        .finish())
}
