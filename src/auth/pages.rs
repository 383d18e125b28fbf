//! Sign-in, sign-out and first-run setup pages.

use crate::http::routes::{Access, Routes};
use crate::ui::csrf::CsrfForm;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::passwords::{
    check_password_rules, hash_password, verify_against_dummy, verify_password,
};
use super::{AuthError, Role, accounts, normalize_email, sessions, setup};
use crate::http::client_addr::client_ip;
use crate::http::extract::{SignedIn, session_cookie, session_of};
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, see_other};
use crate::ui::csrf;
use crate::ui::layout::render_with_status;
use crate::ui::return_path::same_origin_path;
use crate::ui::{Flash, PageError, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/login", Access::Public, login_page)
        .post("/login", Access::Public, login)
        .post("/logout", Access::Public, logout)
        .get("/setup/{token}", Access::Token, setup_page)
        .post("/setup/{token}", Access::Token, setup_submit);
}

fn session_ttl_ms(state: &AppState) -> i64 {
    state.config.auth.session_ttl_hours as i64 * 3_600_000
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_form(token: &str, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form.card.narrow method="post" action="/login" {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            (csrf_input(token))
            input type="hidden" name="next" value=(next);
            label { "Email" input type="email" name="email" value=(email) required autocomplete="username" autofocus; }
            label { "Password" input type="password" name="password" required autocomplete="current-password"; }
            button type="submit" { "Sign in" }
        }
    }
}

async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = same_origin_path(query.next.as_deref().unwrap_or("/")).to_string();
    if session_of(&state, &req)?.is_some() {
        return Ok(see_other(&next).finish());
    }
    let (token, cookie) = csrf::anonymous_token(&req, state.config.secure_cookies());
    let mut response = render(&req, None, "Sign in", login_form(&token, &next, "", None));
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).ok();
    }
    Ok(response)
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    if !csrf::verify_anonymous(&req, &form.csrf_token) {
        return Err(PageError::Forbidden(
            "This sign-in form has expired. Reload the page and try again.".into(),
        ));
    }
    let next = same_origin_path(&form.next).to_string();
    let email = form.email.trim().to_lowercase();
    let address = client_ip(&req, &state.trusted_proxies);
    let ip = address
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    if let Err(wait) = state
        .throttle
        .try_attempt(&email, address, state.clock().instant())
    {
        tracing::warn!(%email, %ip, "sign-in throttled");
        return Err(PageError::TooManyAttempts(wait));
    }
    let lookup = email.clone();
    let user = state
        .store
        .read(|conn| accounts::find_user_by_email(conn, &lookup))?;
    let password = form.password;
    let verified = web::block(move || match user {
        Some(user) => verify_password(&password, &user.password_hash).then_some(user),
        None => {
            verify_against_dummy(&password);
            None
        }
    })
    .await
    .map_err(|_| PageError::Unavailable("Sign-in is unavailable.".into()))?;
    // The failure was counted when the throttle let the attempt in.
    let Some(user) = verified else {
        tracing::info!(%email, %ip, "failed sign-in");
        let (token, _) = csrf::anonymous_token(&req, state.config.secure_cookies());
        let form = login_form(&token, &next, &email, Some("Wrong email or password."));
        return Ok(render_with_status(
            &req,
            StatusCode::UNAUTHORIZED,
            None,
            "Sign in",
            form,
        ));
    };
    state
        .throttle
        .record_success(&email, address, state.clock().instant());
    let ttl = session_ttl_ms(&state);
    let user_id = user.id;
    let token = state
        .store
        .write(move |conn| -> Result<Option<String>, AuthError> {
            let memberships = accounts::memberships_of(conn, user_id)?;
            match memberships.first() {
                Some(m) => Ok(Some(sessions::create(conn, user_id, m.workspace.id, ttl)?)),
                None => Ok(None),
            }
        })
        .await?;
    let Some(token) = token else {
        return Err(PageError::Forbidden(
            "Your account is not a member of any workspace.".into(),
        ));
    };
    tracing::info!(%email, "signed in");
    Ok(see_other(&next)
        .cookie(session_cookie(&state, token))
        .finish())
}

async fn logout(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(&form.csrf_token)?;
    let session_id = user.0.id;
    state
        .store
        .write(move |conn| sessions::delete(conn, session_id))
        .await?;
    let mut gone = Cookie::build(sessions::COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(see_other("/login")
        .cookie(gone)
        .cookie(Flash::success("You are signed out.").cookie())
        .finish())
}

fn setup_form(csrf_token: &str, email: &str, workspace: &str, error: Option<&str>) -> Markup {
    html! {
        p { "Create the owner account of this Herald. This link works once." }
        form.card.narrow method="post" {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            (csrf_input(csrf_token))
            label { "Your email" input type="email" name="email" value=(email) required autocomplete="username"; }
            label { "Workspace name" input type="text" name="workspace" value=(workspace) required maxlength="100"; }
            label { "Password" input type="password" name="password" required minlength="8" autocomplete="new-password"; }
            label { "Repeat password" input type="password" name="password_confirm" required minlength="8" autocomplete="new-password"; }
            button type="submit" { "Create owner account" }
        }
    }
}

fn setup_gone() -> PageError {
    PageError::Gone("This setup link has expired or was already used. Restart Herald with no accounts to get a new one, or ask an owner to add you.".into())
}

async fn setup_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    if !state.store.read(|conn| setup::token_valid(conn, &token))? {
        return Err(setup_gone());
    }
    let (csrf_token, cookie) = csrf::anonymous_token(&req, state.config.secure_cookies());
    let mut response = render(
        &req,
        None,
        "Set up Herald",
        setup_form(&csrf_token, "", "My workspace", None),
    );
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).ok();
    }
    Ok(response)
}

#[derive(Deserialize)]
struct SetupForm {
    email: String,
    workspace: String,
    password: String,
    password_confirm: String,
    #[serde(default)]
    csrf_token: String,
}

async fn setup_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    let form = form.into_inner();
    if !csrf::verify_anonymous(&req, &form.csrf_token) {
        return Err(PageError::Forbidden(
            "This setup form has expired. Reload the page and try again.".into(),
        ));
    }
    if !state.store.read(|conn| setup::token_valid(conn, &token))? {
        return Err(setup_gone());
    }
    let problem = normalize_email(&form.email)
        .err()
        .map(|e| e.to_string())
        .or_else(|| check_password_rules(&form.password).err())
        .or_else(|| {
            (form.password != form.password_confirm)
                .then(|| "The passwords do not match.".to_string())
        });
    if let Some(problem) = problem {
        let page = setup_form(
            &form.csrf_token,
            &form.email,
            &form.workspace,
            Some(&problem),
        );
        return Ok(render_with_status(
            &req,
            StatusCode::BAD_REQUEST,
            None,
            "Set up Herald",
            page,
        ));
    }
    let email = normalize_email(&form.email)?;
    let password = form.password;
    let hash = web::block(move || hash_password(&password))
        .await
        .map_err(|_| PageError::Unavailable("Setup is unavailable.".into()))?;
    let ttl = session_ttl_ms(&state);
    let workspace = form.workspace;
    let session_token = state
        .store
        .write(move |conn| -> Result<Option<String>, AuthError> {
            // Checked again inside the write so two racing visitors cannot both succeed.
            if !setup::token_valid(conn, &token)? {
                return Ok(None);
            }
            let (user, ws, _) =
                accounts::add_user_to_workspace(conn, &email, &hash, &workspace, Role::Owner)?;
            Ok(Some(sessions::create(conn, user.id, ws.id, ttl)?))
        })
        .await?;
    let Some(session_token) = session_token else {
        return Err(setup_gone());
    };
    tracing::info!("owner account created through the setup link");
    Ok(see_other("/")
        .cookie(session_cookie(&state, session_token))
        .cookie(Flash::success("Welcome to Herald. Your owner account is ready.").cookie())
        .finish())
}
