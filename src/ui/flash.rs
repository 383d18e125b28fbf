//! One-shot messages carried across a redirect in a short-lived cookie.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const COOKIE: &str = "herald_flash";

/// A message shown once on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

/// Decides the colour of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl Flash {
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Success,
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Error,
            message: message.into(),
        }
    }

    /// The cookie that carries this message to the next page.
    pub fn cookie(&self) -> Cookie<'static> {
        let tag = match self.kind {
            FlashKind::Success => 's',
            FlashKind::Error => 'e',
        };
        let value = URL_SAFE_NO_PAD.encode(format!("{tag}{}", self.message));
        Cookie::build(COOKIE, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .finish()
    }

    /// The message waiting for this request, if any.
    pub fn from_request(req: &HttpRequest) -> Option<Flash> {
        let raw = req.cookie(COOKIE)?;
        let decoded = URL_SAFE_NO_PAD.decode(raw.value()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let mut chars = text.chars();
        let kind = match chars.next()? {
            's' => FlashKind::Success,
            _ => FlashKind::Error,
        };
        Some(Flash {
            kind,
            message: chars.as_str().to_string(),
        })
    }

    /// A cookie that removes the shown message.
    pub fn removal() -> Cookie<'static> {
        let mut cookie = Cookie::build(COOKIE, "").path("/").finish();
        cookie.make_removal();
        cookie
    }
}
