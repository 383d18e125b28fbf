//! Friendly error pages for the UI (the API has its own JSON errors).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use crate::auth::AuthError;
use crate::store::StoreError;
use crate::ui::components::see_other;
use crate::ui::return_path::same_origin_path;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in required")]
    LoginRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("page not found")]
    NotFound,
    #[error("{0}")]
    Gone(String),
    #[error("too many attempts")]
    TooManyAttempts(u64),
    #[error("{0}")]
    Unavailable(String),
    /// A bug behind the page (logged where it happened).
    #[error("internal error")]
    Internal,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::LoginRequired(_) => StatusCode::SEE_OTHER,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Gone(_) => StatusCode::GONE,
            PageError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::LoginRequired(next) = self {
            let target = format!("/login?next={}", form_urlencoded_path(next));
            return see_other(&target).finish();
        }
        let (title, message) = match self {
            PageError::BadRequest(m) => ("Something is wrong with that request", m.clone()),
            PageError::Forbidden(m) => ("Not allowed", m.clone()),
            PageError::NotFound => (
                "Page not found",
                "There is nothing at this address.".to_string(),
            ),
            PageError::Gone(m) => ("No longer available", m.clone()),
            PageError::TooManyAttempts(secs) => (
                "Too many attempts",
                format!("Too many failed sign-ins. Try again in {secs} seconds."),
            ),
            PageError::Unavailable(m) => ("Temporarily unavailable", m.clone()),
            PageError::Internal => (
                "Something went wrong",
                "Herald hit an error it did not expect; it is in the log.".to_string(),
            ),
            PageError::LoginRequired(_) => unreachable!("handled above"),
        };
        let body = html! {
            p { (message) }
            p { a href="/" { "Back to Herald" } }
        };
        let page = super::layout::page(None, title, None, body);
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/html; charset=utf-8");
        if let PageError::TooManyAttempts(secs) = self {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.body(page.into_string())
    }
}

fn form_urlencoded_path(path: &str) -> String {
    serde_urlencoded::to_string([("n", same_origin_path(path))])
        .map(|s| s.trim_start_matches("n=").to_string())
        .unwrap_or_else(|_| "%2F".into())
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure behind a page");
        if e.is_unavailable() {
            PageError::Unavailable("The database is unavailable. Try again in a moment.".into())
        } else {
            PageError::Internal
        }
    }
}

impl From<AuthError> for PageError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(m) | AuthError::Conflict(m) => PageError::BadRequest(m),
            AuthError::NotFound(_) => PageError::NotFound,
            AuthError::Store(e) => e.into(),
        }
    }
}
