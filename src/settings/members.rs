//! Members of the workspace: list, add (creating the user if new), remove.

use crate::ui::csrf::CsrfForm;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use crate::auth::passwords::{check_password_rules, hash_password};
use crate::auth::{AuthError, Role, accounts, normalize_email};
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::{Flash, PageError, format_time};

/// The members card of the settings page.
pub fn section(state: &AppState, user: &SignedIn) -> Result<Markup, PageError> {
    let ws = user.0.workspace.id;
    let members = state.store.read(|conn| accounts::members_of(conn, ws))?;
    let manager = user.0.role.can_manage();
    Ok(html! {
        section.card {
            h2 { "Members" }
            div.table-wrap { table {
                thead { tr { th { "Email" } th { "Role" } th { "Added" } th {} } }
                tbody {
                    @for m in &members {
                        tr {
                            td { (m.email) }
                            td { (m.role) }
                            td { (format_time(m.created_at)) }
                            td {
                                @if manager && m.user_id != user.0.user_id {
                                    (danger_button(&format!("/settings/members/{}/remove", m.user_id), &format!("Remove {} from this workspace?", m.email), &user.0.csrf_token, "Remove"))
                                }
                            }
                        }
                    }
                }
            } }
            @if manager {
                h3 { "Add a member" }
                form.row method="post" action="/settings/members" {
                    (csrf_input(&user.0.csrf_token))
                    label { "Email" input type="email" name="email" required; }
                    label { "Role" select name="role" { option value="member" { "member" } option value="admin" { "admin" } @if user.0.role == Role::Owner { option value="owner" { "owner" } } } }
                    label { "Initial password (used if they have no account yet)" input type="password" name="password" autocomplete="new-password"; }
                    button type="submit" { "Add member" }
                }
            }
        }
    })
}

fn back(flash: Flash) -> HttpResponse {
    redirect("/settings", flash)
}

#[derive(Deserialize)]
pub struct AddForm {
    email: String,
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

/// Adds someone to the workspace, or changes a member's role. The answer and the work
/// done are the same whether or not the email already has an account elsewhere, so the
/// form cannot be used to probe for accounts: an initial password is always required
/// (and used only if the person has no account yet).
pub async fn add(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let form = form.into_inner();
    let role: Role = match form.role.parse() {
        Ok(role) => role,
        Err(e) => return Ok(back(Flash::error(e))),
    };
    let email = match normalize_email(&form.email) {
        Ok(email) => email,
        Err(e) => return Ok(back(Flash::error(e.to_string()))),
    };
    if let Err(problem) = check_password_rules(&form.password) {
        return Ok(back(Flash::error(format!(
            "An initial password is required (used if the person has no account yet). {problem}"
        ))));
    }
    let password = form.password;
    let hash = web::block(move || hash_password(&password))
        .await
        .map_err(|_| PageError::Unavailable("Adding members is unavailable.".into()))?;
    let ws_id = user.0.workspace.id;
    let actor = user.0.role;
    let added = email.clone();
    let result = state
        .store
        .write(move |conn| -> Result<(), AuthError> {
            let user_id = match accounts::find_user_by_email(conn, &added)? {
                Some(u) => u.id,
                None => accounts::insert_user(conn, &added, &hash)?.id,
            };
            accounts::set_membership_as(conn, ws_id, actor, user_id, role)
        })
        .await;
    match result {
        Ok(()) => Ok(back(Flash::success(format!(
            "{email} is now a {role} of this workspace."
        )))),
        Err(AuthError::Invalid(m)) => Ok(back(Flash::error(m))),
        Err(e) => Err(e.into()),
    }
}

/// Removes a member (never the last owner, never yourself).
pub async fn remove(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let target = id.into_inner();
    if target == user.0.user_id {
        return Ok(back(Flash::error("You cannot remove yourself.")));
    }
    let ws_id = user.0.workspace.id;
    let actor = user.0.role;
    let result = state
        .store
        .write(move |conn| accounts::remove_membership(conn, ws_id, actor, target))
        .await;
    match result {
        Ok(()) => Ok(back(Flash::success("Member removed."))),
        Err(AuthError::Invalid(m)) => Ok(back(Flash::error(m))),
        Err(e) => Err(e.into()),
    }
}
