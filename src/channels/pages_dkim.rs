//! The DKIM part of a mailbox's page: generating its key and checking that the record
//! is published.

use actix_web::{HttpResponse, web};

use super::dkim::{self, Algorithm};
use super::pages::{Pairs, field, mailbox_form, page_of};
use super::{Settings, store};

const NOT_A_MAILBOX: &str = "Only a mailbox signs with DKIM.";
use crate::http::extract::SignedIn;
use crate::http::state::AppState;
use crate::ui::components::redirect;
use crate::ui::{Flash, PageError};

/// Asks DNS for the published record and says what it found.
pub(super) async fn check_dkim(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    let channel = match mailbox_form(&state, &user, &id, &form, NOT_A_MAILBOX)? {
        Ok(c) => c,
        Err(back) => return Ok(back),
    };
    let page = page_of(&channel.uid);
    let Settings::Email(mailbox) = &channel.settings else {
        return Ok(redirect(&page, Flash::error(NOT_A_MAILBOX)));
    };
    let Some((name, found)) = super::dns_check::check(&state.config.dns, mailbox).await else {
        return Ok(redirect(&page, Flash::error("Make a DKIM key first.")));
    };
    let said = super::dns_check::to_json(&name, &found)["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let flash = if found == super::dns_check::Published::Matches {
        Flash::success(format!("{name}: {said}."))
    } else {
        Flash::error(format!("{said}."))
    };
    Ok(redirect(&page, flash))
}

/// Generates the mailbox's DKIM key (RSA-2048 or Ed25519) with the selector asked for.
pub(super) async fn make_dkim(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    let channel = match mailbox_form(&state, &user, &id, &form, NOT_A_MAILBOX)? {
        Ok(c) => c,
        Err(back) => return Ok(back),
    };
    let page = page_of(&channel.uid);
    let selector = field(&form, "selector").trim().to_string();
    let Some(algorithm) = Algorithm::parse(field(&form, "algorithm")) else {
        return Ok(redirect(&page, Flash::error("Pick RSA or Ed25519.")));
    };
    if !dkim::valid_selector(&selector) {
        return Ok(redirect(
            &page,
            Flash::error("The selector must be a DNS label (letters, digits, -)."),
        ));
    }
    let made = web::block(move || dkim::generate(&selector, algorithm))
        .await
        .map_err(|_| PageError::BadRequest("key generation was interrupted".into()))?
        .map_err(PageError::BadRequest)?;
    state
        .store
        .write(move |c| store::set_dkim(c, &channel, Some(made)))
        .await?;
    Ok(redirect(
        &page,
        Flash::success("DKIM key made: publish the record below."),
    ))
}
