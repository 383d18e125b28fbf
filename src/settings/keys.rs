//! API keys on the settings page: list, create (shown once), revoke.

use crate::ui::csrf::CsrfForm;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::{members, webhooks};
use crate::auth::AuthError;
use crate::auth::api_keys::{self, ApiKeyInfo};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::{Flash, PageError, format_time, render};

/// The settings page: API keys, the webhook signing secret and members of the current
/// workspace.
pub async fn settings_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "settings")?;
    let ws = user.0.workspace.id;
    let keys = state.store.read(|conn| api_keys::list(conn, ws))?;
    let members_section = members::section(&state, &user)?;
    let endpoints_card = webhooks::endpoints_card(&state, &user)?;
    let secret_section = webhooks::section(&state, &user).await?;
    let body = html! {
        p.muted { "Workspace ID (for X-Team-ID): " code { (user.0.workspace.uid) } }
        (keys_section(&user, &keys))
        (endpoints_card)
        (secret_section)
        (members_section)
    };
    Ok(render(&req, Some(&nav), "Settings", body))
}

fn keys_section(user: &SignedIn, keys: &[ApiKeyInfo]) -> Markup {
    let manager = user.0.role.can_manage();
    html! {
        section.card {
            h2 { "API keys" }
            p.muted { "Programs authenticate with " code { "X-API-Key: <key>" } " or " code { "Authorization: Bearer <key>" } "." }
            @if keys.is_empty() {
                p.empty { "No API keys yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Label" } th { "Key" } th { "Created" } th { "Last used" } th { "Status" } th {} } }
                    tbody {
                        @for key in keys {
                            tr {
                                td { (key.name) }
                                td { code { (key.prefix) "…" } }
                                td { (format_time(key.created_at)) }
                                td { (key.last_used_at.map(format_time).unwrap_or_else(|| "never".into())) }
                                td { @if key.revoked_at.is_some() { span.badge.bad { "revoked" } } @else { span.badge.good { "active" } } }
                                td {
                                    @if manager && key.revoked_at.is_none() {
                                        (danger_button(&format!("/settings/api-keys/{}/revoke", key.id), &format!("Revoke the key {}? Programs using it stop working at once.", key.name), &user.0.csrf_token, "Revoke"))
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            @if manager {
                form.row method="post" action="/settings/api-keys" {
                    (csrf_input(&user.0.csrf_token))
                    label { "Label" input type="text" name="name" maxlength="100" placeholder="e.g. website backend"; }
                    button type="submit" { "Create API key" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf_token: String,
}

/// Creates a key and shows it once, on this response only.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let name = form.into_inner().name;
    let key = state
        .store
        .write(move |conn| api_keys::create(conn, ws, &name))
        .await?;
    let nav = user.nav(&state, "settings")?;
    let body = html! {
        section.card {
            p { "Copy this key now. Herald stores only a hash of it and cannot show it again." }
            p { code.secret data-copy { (key.secret) } }
            p.muted { "Label: " (key.info.name) " · prefix " code { (key.info.prefix) } }
            p { a.button href="/settings" { "Done" } }
        }
    };
    Ok(render(&req, Some(&nav), "API key created", body))
}

/// Revokes a key of the current workspace.
pub async fn revoke(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let ws = user.0.workspace.id;
    let id = id.into_inner().to_string();
    let revoked = state
        .store
        .write(move |conn| -> Result<ApiKeyInfo, AuthError> { api_keys::revoke(conn, ws, &id) })
        .await?;
    Ok(redirect(
        "/settings",
        Flash::success(format!("API key {} revoked.", revoked.name)),
    ))
}
