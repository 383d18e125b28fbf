//! Markup pieces of the Sources pages, kept apart from the handlers that fetch the data.

use maud::{Markup, html};

use super::store::{Counts, Delivery, Source};
use super::{EventNameRule, Scheme};
use crate::http::extract::SignedIn;
use crate::ui::components::{csrf_input, danger_button};
use crate::ui::format_time;

/// Payload characters shown before "show all".
const PAYLOAD_PREVIEW: usize = 200;

/// How a source reads its payload: the email path and the event name rule.
pub(super) fn mapping(source: &Source) -> Markup {
    html! {
        "email ← " code { (source.email_path) } br;
        @match &source.event_name {
            EventNameRule::Fixed(name) => { "event = " code { (name) } }
            EventNameRule::Path(path) => { "event ← " code { (path) } }
        }
    }
}

/// Enabled / disabled badge.
pub(super) fn status(source: &Source) -> Markup {
    html! {
        @if source.enabled { span.badge.good { "enabled" } } @else { span.badge.bad { "disabled" } }
    }
}

/// Delivery counts by outcome, as one line.
pub(super) fn counts_cell(c: &Counts) -> Markup {
    html! { (c.accepted) " accepted · " (c.skipped) " skipped · " (c.rejected) " rejected" }
}

/// Disable / enable, rotate and delete buttons (owners and admins only).
pub(super) fn actions(user: &SignedIn, source: &Source) -> Markup {
    let base = format!("/events/sources/{}", source.uid);
    html! {
        div.row {
            @if source.enabled {
                form.inline method="post" action=(format!("{base}/disable")) {
                    (csrf_input(&user.0.csrf_token)) button type="submit" { "Disable" }
                }
            } @else {
                form.inline method="post" action=(format!("{base}/enable")) {
                    (csrf_input(&user.0.csrf_token)) button type="submit" { "Enable" }
                }
            }
            form.inline method="post" action=(format!("{base}/rotate")) data-confirm=(format!("Rotate the URL of {}? The current URL stops working at once.", source.name)) {
                (csrf_input(&user.0.csrf_token)) button type="submit" { "Rotate URL" }
            }
            (danger_button(&format!("{base}/delete"), &format!("Delete the event source {} and its delivery log?", source.name), &user.0.csrf_token, "Delete"))
        }
    }
}

/// One delivery: the payload is cut short, the rest behind a `details` toggle.
pub(super) fn delivery_row(d: &Delivery) -> Markup {
    let payload = d.payload.as_deref().unwrap_or("");
    let preview: String = payload.chars().take(PAYLOAD_PREVIEW).collect();
    let badge = match d.outcome.as_str() {
        "accepted" => "badge good",
        "skipped" => "badge warn",
        _ => "badge bad",
    };
    html! {
        tr {
            td { (format_time(d.received_at)) }
            td { span class=(badge) { (d.outcome) } }
            td { (d.reason.as_deref().unwrap_or("")) }
            td { (d.email.as_deref().unwrap_or("")) }
            td { @if let Some(name) = &d.event_name { code { (name) } } }
            td {
                @if preview.len() < payload.len() {
                    details { summary { code { (preview) "…" } } pre.props { (payload) } }
                } @else {
                    code { (payload) }
                }
            }
        }
    }
}

/// The form that creates a source (owners and admins only).
pub(super) fn create_form(user: &SignedIn) -> Markup {
    html! {
        section.card {
            h2 { "New event source" }
            form method="post" action="/events/sources" {
                (csrf_input(&user.0.csrf_token))
                label { "Name" input type="text" name="name" required maxlength="100" placeholder="Stripe checkout"; }
                label { "Email path" input type="text" name="email_path" required maxlength="300" placeholder="data.object.customer_email"; }
                p.muted { "Fill exactly one of the next two: a fixed event name, or the dot-path of a field holding it. Dot-paths reach into nested objects and arrays, like " code { "items.0.email" } "." }
                label { "Fixed event name" input type="text" name="event_name" maxlength="120" placeholder="purchaseCompleted"; }
                label { "Event name path" input type="text" name="event_name_path" maxlength="300" placeholder="type"; }
                label { "Signature check"
                    select name="signature" {
                        @for scheme in Scheme::ALL { option value=(scheme.as_str()) { (scheme.label()) } }
                    }
                }
                label { "Signing secret (Standard Webhooks: whsec_…; Stripe: the endpoint's secret)" input type="password" name="signing_secret" autocomplete="off" maxlength="512"; }
                button type="submit" { "Create event source" }
            }
        }
    }
}
