//! Event sources: inbound webhook URLs whose unguessable token is the only credential.
//!
//! A third-party service (Stripe, a billing system, …) posts any JSON to
//! `/hooks/events/{token}`; the source's dot-paths pick the email and the event name out of
//! it, and the event then takes exactly the same ingest path as `POST /api/events/send`.
//! Every delivery is recorded with its outcome so nothing is ever dropped silently.
//!
//! Layers: [`spec`] validates a definition, [`store`] keeps sources and deliveries,
//! [`path`] reads dot-paths, [`urlencoded`] reads form-encoded deliveries, [`signature`] checks provider signatures, [`hook`] is the
//! public endpoint, [`api`] the JSON management API, and [`pages`] / [`views`] the UI.

pub mod api;
pub mod hook;
pub mod pages;
pub mod path;
pub mod signature;
pub mod spec;
pub mod store;
pub mod urlencoded;
mod views;

pub use spec::{EventNameRule, Scheme, SourceSpec, SpecInput};

/// Where every source's public URL lives; the token follows.
pub const HOOK_PATH: &str = "/hooks/events/";

/// The full URL of a source, shown only when its token is new.
pub fn hook_url(base_url: &str, token: &str) -> String {
    format!("{base_url}{HOOK_PATH}{token}")
}

/// What lists show instead of the URL: enough to recognise it, useless to call.
pub fn hook_url_hint(token_prefix: &str) -> String {
    format!("{HOOK_PATH}{token_prefix}…")
}
