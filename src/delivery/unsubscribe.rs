//! One-click unsubscribe (RFC 8058): a signed link per contact; a POST unsubscribes at
//! once without a login, a GET shows a confirmation page with the same button.

use crate::http::routes::{Access, Routes};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::optout::unsubscribe_contact;
use crate::http::state::AppState;
use crate::ui::{PageError, render};

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/unsubscribe/{token}", Access::Token, confirm_page)
        .post("/unsubscribe/{token}", Access::Token, unsubscribe);
}

fn verify(state: &AppState, token: &str) -> Option<String> {
    state.links.verify_unsubscribe(token)
}

fn invalid() -> PageError {
    PageError::Gone("This unsubscribe link is not valid (or the contact no longer exists).".into())
}

async fn confirm_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    verify(&state, &token).ok_or_else(invalid)?;
    let body = html! {
        section.card.narrow {
            p { "Stop receiving these emails?" }
            form method="post" {
                button type="submit" { "Unsubscribe" }
            }
        }
    };
    Ok(render(&req, None, "Unsubscribe", body))
}

async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let uid = verify(&state, &token).ok_or_else(invalid)?;
    let found = state
        .store
        .write(move |conn| unsubscribe_contact(conn, &uid))
        .await?;
    if !found {
        return Err(invalid());
    }
    let body = html! { section.card.narrow { p { "You are unsubscribed. You will not receive these emails any more." } } };
    Ok(render(&req, None, "Unsubscribed", body))
}
