//! Outbound network policy shared by every feature that calls a URL a user typed
//! (automation webhook steps today; outbound webhooks and provider calls later), so the
//! rule for what Herald may connect to lives in one place.

pub mod proxies;
pub mod ssrf;
