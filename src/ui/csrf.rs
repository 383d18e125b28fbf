//! CSRF protection for HTML forms.
//!
//! Signed-in forms carry the session's own token. Forms shown before sign-in (login,
//! setup) use a double-submit cookie: a random value in a cookie and the same value in
//! the form; a cross-site page can send the cookie but cannot read it to fill the form.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use crate::auth::secrets::{constant_time_eq, new_token};

/// A form whose only field is the CSRF token (logout, delete, revoke buttons…).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf_token: String,
}

/// Name of the hidden form field every state-changing form carries.
pub const FIELD: &str = "csrf_token";
/// Cookie holding the pre-sign-in token.
pub const COOKIE: &str = "herald_csrf";

/// The pre-sign-in token for this browser, and a cookie to set if it is new.
pub fn anonymous_token(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req.cookie(COOKIE).map(|c| c.value().to_string())
        && existing.len() == 64
    {
        return (existing, None);
    }
    let token = new_token("");
    let cookie = Cookie::build(COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    (token, Some(cookie))
}

/// Whether a pre-sign-in form's token matches this browser's cookie.
pub fn verify_anonymous(req: &HttpRequest, submitted: &str) -> bool {
    req.cookie(COOKIE).is_some_and(|c| {
        !submitted.is_empty() && constant_time_eq(c.value().as_bytes(), submitted.as_bytes())
    })
}

/// Whether a signed-in form's token matches the session's.
pub fn verify_session(expected: &str, submitted: &str) -> bool {
    !submitted.is_empty() && constant_time_eq(expected.as_bytes(), submitted.as_bytes())
}
