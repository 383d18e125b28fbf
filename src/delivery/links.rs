//! Signed links Herald puts in what it sends (one-click unsubscribe, the preferences page,
//! double opt-in confirmation): built from the public origin and the installation's link
//! secret, verified without a lookup. Each kind of link signs its own purpose, so a token
//! of one kind never opens another; a confirmation link also signs when it expires.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::Sha256;

use crate::auth::secrets::constant_time_eq;
use crate::store::StoreError;

/// Builds and checks signed links; cheap to clone.
#[derive(Clone)]
pub struct Links {
    base_url: Arc<str>,
    secret: Arc<[u8]>,
}

impl Links {
    /// Links under `base_url`, signed with `secret` (see [`load_secret`]).
    pub fn new(base_url: &str, secret: &[u8]) -> Self {
        Links {
            base_url: base_url.into(),
            secret: secret.into(),
        }
    }

    /// The unsubscribe URL for a contact.
    pub fn unsubscribe_url(&self, contact_uid: &str) -> String {
        format!(
            "{}/unsubscribe/{contact_uid}.{}",
            self.base_url,
            signature(&self.secret, "unsubscribe", contact_uid)
        )
    }

    /// The contact uid an unsubscribe token was signed for, if the signature holds.
    pub fn verify_unsubscribe(&self, token: &str) -> Option<String> {
        self.verify(token, "unsubscribe")
    }

    /// The preferences page of a contact: its public lists and a way out of everything.
    pub fn preferences_url(&self, contact_uid: &str) -> String {
        format!(
            "{}/preferences/{contact_uid}.{}",
            self.base_url,
            signature(&self.secret, "preferences", contact_uid)
        )
    }

    /// The contact uid a preferences token was signed for, if the signature holds.
    pub fn verify_preferences(&self, token: &str) -> Option<String> {
        self.verify(token, "preferences")
    }

    /// The double opt-in link for a contact, valid until `expires_ms`.
    pub fn confirm_url(&self, contact_uid: &str, expires_ms: i64) -> String {
        let payload = format!("{contact_uid}.{expires_ms}");
        format!(
            "{}/confirm/{payload}.{}",
            self.base_url,
            signature(&self.secret, "confirm", &payload)
        )
    }

    /// The contact uid a confirmation token was signed for and when it expires, if the
    /// signature holds (expiry is the caller's to judge against its clock).
    pub fn verify_confirm(&self, token: &str) -> Option<(String, i64)> {
        let payload = self.verify(token, "confirm")?;
        let (uid, expires) = payload.rsplit_once('.')?;
        Some((uid.to_string(), expires.parse().ok()?))
    }

    /// A form's timing token: when the form was shown (`shown_ms`), signed for that form,
    /// so the endpoint can tell how long the person took without keeping anything.
    pub fn form_token(&self, form_uid: &str, shown_ms: i64) -> String {
        let payload = format!("{form_uid}.{shown_ms}");
        format!("{shown_ms}.{}", signature(&self.secret, "form", &payload))
    }

    /// When a form was shown, if `token` was signed for this form.
    pub fn verify_form_token(&self, form_uid: &str, token: &str) -> Option<i64> {
        let (shown, sig) = token.split_once('.')?;
        let shown_ms: i64 = shown.parse().ok()?;
        let expected = signature(&self.secret, "form", &format!("{form_uid}.{shown_ms}"));
        constant_time_eq(expected.as_bytes(), sig.as_bytes()).then_some(shown_ms)
    }

    fn verify(&self, token: &str, purpose: &str) -> Option<String> {
        let (payload, sig) = token.rsplit_once('.')?;
        let expected = signature(&self.secret, purpose, payload);
        constant_time_eq(expected.as_bytes(), sig.as_bytes()).then(|| payload.to_string())
    }
}

/// Loads the installation's signing secret, creating it on first start.
pub fn load_secret(conn: &Connection) -> Result<Vec<u8>, StoreError> {
    let existing: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM instance_secrets WHERE name = 'links'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(secret) = existing {
        return Ok(secret);
    }
    let secret: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    conn.execute(
        "INSERT INTO instance_secrets (name, value, created_at) VALUES ('links', ?1, ?2)",
        params![secret, crate::store::here().now_ms()],
    )?;
    Ok(secret)
}

fn signature(secret: &[u8], purpose: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.update(b":");
    mac.update(payload.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The links wired into one store, for code that builds them inside its writes.
#[derive(Default)]
struct Installed(std::sync::OnceLock<Links>);

/// Wires the links `store`'s writes build (once, at start).
pub fn install(store: &crate::store::Store, links: Links) {
    let _ = store.instance().cache::<Installed>().0.set(links);
}

/// The links of the store whose read or write is running; unsigned-looking links under
/// no origin on a store nobody wired (the command line never sends).
pub fn in_store() -> Links {
    crate::store::here()
        .cache::<Installed>()
        .0
        .get()
        .cloned()
        .unwrap_or_else(|| Links::new("", &[]))
}
