//! The webhook signing secret on the settings page: owners and admins see it (receivers
//! need it to verify calls) and may rotate it; members are told who can.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::automations::signing;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{danger_button, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::{Flash, PageError};

/// Where the rotate form posts.
pub const ROTATE_PATH: &str = "/settings/webhook-secret/rotate";

/// The signing-secret card. Reading it may create the secret, hence a write.
pub async fn section(state: &AppState, user: &SignedIn) -> Result<Markup, PageError> {
    if !user.0.role.can_manage() {
        return Ok(html! {
            section.card {
                h2 { "Webhook signing secret" }
                p.muted { "Owners and admins can see and rotate the secret that signs webhook steps." }
            }
        });
    }
    let ws = user.0.workspace.id;
    let secret = state
        .store
        .write(move |conn| signing::workspace_secret(conn, ws))
        .await?;
    Ok(html! {
        section.card #webhook-secret {
            h2 { "Webhook signing secret" }
            p.muted {
                "Webhook steps are signed the Standard Webhooks way (" code { "webhook-id" } ", "
                code { "webhook-timestamp" } ", " code { "webhook-signature" } " headers). "
                "Give this secret to the receiver and verify with any Standard Webhooks library."
            }
            p { code.secret data-copy data-webhook-secret { (secret) } }
            (danger_button(ROTATE_PATH, "Rotate the signing secret? Receivers must switch to the new one: calls signed from now on no longer verify with the old one.", &user.0.csrf_token, "Rotate secret"))
        }
    })
}

/// Replaces the secret and goes back to the settings page, where the new one shows.
pub async fn rotate(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    state
        .store
        .write(move |conn| signing::rotate_secret(conn, ws))
        .await?;
    Ok(redirect(
        "/settings#webhook-secret",
        Flash::success("Webhook signing secret rotated; give receivers the new one."),
    ))
}
