//! Events pages: the event log, declared patterns, and the tab bar shared with sources.

use actix_web::web;
use maud::{Markup, html};

/// Routes of this module.
pub fn routes(_cfg: &mut web::ServiceConfig) {}

/// The sub-navigation of the Events area: log, patterns, sources.
pub fn tabs(active: &str) -> Markup {
    html! {
        nav.tabs aria-label="Events" {
            @for (key, href, label) in [("log", "/events", "Log"), ("patterns", "/events/patterns", "Patterns"), ("sources", "/events/sources", "Sources")] {
                a href=(href) class=@if key == active { "active" } { (label) }
            }
        }
    }
}
