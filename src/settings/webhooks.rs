//! Webhooks on the settings page: the card leading to Settings → Webhooks (the endpoints,
//! `webhooks::pages`), and the workspace's signing secret for automation webhook steps:
//! owners and admins see it (receivers need it to verify calls) and may rotate it;
//! members are told who can.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::automations::signing;
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{danger_button, redirect};
use crate::ui::csrf::CsrfForm;
use crate::ui::{Flash, PageError};
use crate::webhooks::{EndpointStatus, store as endpoints};

/// Where the rotate form posts.
pub const ROTATE_PATH: &str = "/settings/webhook-secret/rotate";

/// The card that leads to Settings → Webhooks, with how many endpoints there are and how
/// many are disabled, so a broken one is noticed from the settings page.
pub fn endpoints_card(state: &AppState, user: &SignedIn) -> Result<Markup, PageError> {
    let ws = user.0.workspace.id;
    let all = state.store.read(|conn| endpoints::all(conn, ws))?;
    let disabled = all
        .iter()
        .filter(|e| e.status == EndpointStatus::Disabled)
        .count();
    Ok(html! {
        section.card #webhooks {
            h2 { "Webhooks" }
            p.muted { "Endpoints that hear what happens in this workspace (contacts, lists, forms, messages…), each with its own signing secret, health and delivery log." }
            p {
                (all.len()) " endpoint" @if all.len() != 1 { "s" }
                @if disabled > 0 { ", " span.badge.bad { (disabled) " disabled" } }
                " · " a href="/settings/webhooks" { "Manage webhooks →" }
            }
        }
        section.card #channels {
            h2 { "Channels" }
            p.muted { "Email mailboxes with their own sender, SMTP server and DKIM key, and the tokens applications send through them with." }
            p { a href="/settings/channels" { "Manage channels →" } }
        }
    })
}

/// The signing-secret card. Reading it may create the secret, hence a write.
pub async fn section(state: &AppState, user: &SignedIn) -> Result<Markup, PageError> {
    if !user.0.role.can_manage() {
        return Ok(html! {
            section.card {
                h2 { "Webhook signing secret" }
                p.muted { "Owners and admins can see and rotate the secret that signs automation webhook steps." }
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
                "Automation webhook steps are signed the Standard Webhooks way (" code { "webhook-id" } ", "
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
