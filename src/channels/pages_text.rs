//! Settings → Channels for SMS numbers and WhatsApp instances: their create and edit
//! fields, what a member sees instead, and the "Provider setup" card with the webhook URL
//! the owner enters at Twilio or in Meta's app. The handlers stay in `pages.rs`; this file
//! only turns forms into the API's JSON and channels into markup, so the two kinds share
//! the mailbox's validation (`input::parse_new` / `parse_update`) and routes.
//!
//! Credentials (auth token, access token, app secret, verify token) are never put back
//! into a form: their inputs stay empty, and an empty one is left out of the update body
//! so the stored value is kept.

use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::pages::{field, text_input};
use super::providers::{twilio, whatsapp};
use super::{Channel, ChannelKind, Settings, masked};
use crate::ui::components::csrf_input;

/// What the pages call a channel of `kind` ("mailbox", "SMS number", …), so buttons and
/// messages name the thing the owner made.
pub(super) fn noun(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Email => "mailbox",
        ChannelKind::Sms => "SMS number",
        ChannelKind::WhatsApp => "WhatsApp instance",
    }
}

/// (API key, form field) pairs.
type Fields = &'static [(&'static str, &'static str)];

/// The SMS or WhatsApp form's fields as the API's JSON. Plain fields are sent as typed
/// (an empty sender clears it); an empty credential is left out so the stored one is
/// kept; an empty base URL or API version means the provider's default.
pub(super) fn body_of(kind: ChannelKind, pairs: &[(String, String)]) -> Map<String, Value> {
    let f = |n: &str| field(pairs, n).trim().to_string();
    let (plain, secrets, default_url): (Fields, Fields, &str) = match kind {
        ChannelKind::Sms => (
            &[
                ("accountSid", "account_sid"),
                ("from", "from"),
                ("messagingServiceSid", "messaging_service_sid"),
            ],
            &[("authToken", "auth_token")],
            twilio::DEFAULT_BASE_URL,
        ),
        ChannelKind::WhatsApp => (
            &[("phoneNumberId", "phone_number_id")],
            &[
                ("accessToken", "access_token"),
                ("appSecret", "app_secret"),
                ("verifyToken", "verify_token"),
            ],
            whatsapp::DEFAULT_BASE_URL,
        ),
        ChannelKind::Email => (&[], &[], ""),
    };
    let mut m = Map::new();
    m.insert("kind".into(), json!(kind.as_str()));
    m.insert("name".into(), json!(f("name")));
    for (key, name) in plain {
        m.insert((*key).into(), json!(f(name)));
    }
    for (key, name) in secrets {
        if !f(name).is_empty() {
            m.insert((*key).into(), json!(f(name)));
        }
    }
    let url = f("base_url");
    m.insert(
        "baseUrl".into(),
        json!(if url.is_empty() {
            default_url.into()
        } else {
            url
        }),
    );
    if kind == ChannelKind::WhatsApp {
        let version = f("api_version");
        let version = if version.is_empty() {
            whatsapp::DEFAULT_API_VERSION.into()
        } else {
            version
        };
        m.insert("apiVersion".into(), json!(version));
    }
    m
}

/// A credential input: never filled; when one is stored, the placeholder says that
/// leaving it empty keeps it.
fn secret_input(label: &str, name: &str, stored: bool, required: bool) -> Markup {
    let hint = if stored {
        "stored; leave empty to keep"
    } else {
        ""
    };
    html! {
        label { (label) input type="password" name=(name) autocomplete="new-password"
            placeholder=(hint) required[required && !stored]; }
    }
}

/// The SMS number fields, filled from `channel` when editing (credentials excepted).
pub(super) fn sms_fields(channel: Option<&Channel>) -> Markup {
    let a = channel.and_then(|c| match &c.settings {
        Settings::Sms(n) => Some(&n.account),
        _ => None,
    });
    html! {
        input type="hidden" name="kind" value="sms";
        (text_input("Name", "name", channel.map_or("", |c| c.name.as_str()), "text"))
        (text_input("Account SID", "account_sid", a.map_or("", |a| a.account_sid.as_str()), "text"))
        (secret_input("Auth token", "auth_token", a.is_some_and(|a| !a.auth_token.is_empty()), true))
        (text_input("From (E.164 number like +14155550123, or an alphanumeric sender ID)", "from", a.and_then(|a| a.from.as_deref()).unwrap_or(""), "text"))
        (text_input("Messaging service SID (optional, instead of or with From)", "messaging_service_sid", a.and_then(|a| a.messaging_service_sid.as_deref()).unwrap_or(""), "text"))
        (text_input("API base URL (empty: Twilio's)", "base_url", a.map_or("", |a| a.base_url.as_str()), "url"))
    }
}

/// The WhatsApp instance fields, filled from `channel` when editing (credentials
/// excepted).
pub(super) fn whatsapp_fields(channel: Option<&Channel>) -> Markup {
    let w = channel.and_then(|c| match &c.settings {
        Settings::WhatsApp(w) => Some(w),
        _ => None,
    });
    let a = w.map(|w| &w.account);
    html! {
        input type="hidden" name="kind" value="whatsapp";
        (text_input("Name", "name", channel.map_or("", |c| c.name.as_str()), "text"))
        (text_input("Phone number ID", "phone_number_id", a.map_or("", |a| a.phone_number_id.as_str()), "text"))
        (secret_input("Access token", "access_token", a.is_some_and(|a| !a.access_token.is_empty()), true))
        (secret_input("App secret (checks Meta's webhook signatures)", "app_secret", w.is_some_and(|w| !w.app_secret.is_empty()), false))
        (secret_input(if w.is_some() { "Verify token" } else { "Verify token (optional: empty makes one)" }, "verify_token", w.is_some_and(|w| !w.verify_token.is_empty()), false))
        (text_input("Graph API version", "api_version", a.map_or(whatsapp::DEFAULT_API_VERSION, |a| a.api_version.as_str()), "text"))
        (text_input("API base URL (empty: Meta's)", "base_url", a.map_or("", |a| a.base_url.as_str()), "url"))
    }
}

/// The index's "New SMS number" and "New WhatsApp instance" forms.
pub(super) fn new_forms(action: &str, csrf: &str) -> Markup {
    html! {
        section.card {
            h2 { "New SMS number" }
            p.muted { "A Twilio (or Twilio-compatible) account and the number or sender ID it texts from." }
            form method="post" action=(action) {
                (csrf_input(csrf))
                (sms_fields(None))
                button type="submit" { "Create SMS number" }
            }
        }
        section.card {
            h2 { "New WhatsApp instance" }
            p.muted { "A WhatsApp Cloud API phone number of your Meta app." }
            form method="post" action=(action) {
                (csrf_input(csrf))
                (whatsapp_fields(None))
                button type="submit" { "Create WhatsApp instance" }
            }
        }
    }
}

/// A credential as a member sees it: set or not, never its value.
fn shown_secret(secret: &str) -> Markup {
    match masked(secret).as_str() {
        Some(m) => html! { code { (m) } },
        None => html! { span.muted { "not set" } },
    }
}

/// An SMS or WhatsApp channel's settings for someone who may not change them.
pub(super) fn summary(channel: &Channel) -> Markup {
    let none = || html! { span.muted { "—" } };
    match &channel.settings {
        Settings::Email(_) => html! {},
        Settings::Sms(n) => html! { dl {
            dt { "Account SID" } dd { code { (n.account.account_sid) } }
            dt { "Auth token" } dd { (shown_secret(&n.account.auth_token)) }
            dt { "From" } dd { @match &n.account.from { Some(f) => { (f) } None => { (none()) } } }
            dt { "Messaging service SID" } dd { @match &n.account.messaging_service_sid { Some(s) => { code { (s) } } None => { (none()) } } }
            dt { "API base URL" } dd { code { (n.account.base_url) } }
        } },
        Settings::WhatsApp(w) => html! { dl {
            dt { "Phone number ID" } dd { code { (w.account.phone_number_id) } }
            dt { "Access token" } dd { (shown_secret(&w.account.access_token)) }
            dt { "App secret" } dd { (shown_secret(&w.app_secret)) }
            dt { "Graph API" } dd { code { (w.account.base_url) "/" (w.account.api_version) } }
        } },
    }
}

/// Where the provider must post for this channel (statuses, and STOP / START), with one
/// line of what to do at the provider, and how many recipients opted out.
pub(super) fn provider_card(channel: &Channel, base_url: &str, opted_out: i64) -> Markup {
    let url = channel.webhook_url(base_url);
    let copyable = |id: &str, value: &str| {
        html! { code id=(id) .wrap { (value) } " " button type="button" data-copy=(id) { "Copy" } }
    };
    html! {
        section.card {
            h2 { "Provider setup" }
            @match &channel.settings {
                Settings::Sms(_) => {
                    dl { dt { "Webhook URL" } dd { (copyable("webhook-url", &url)) } }
                    p { "In Twilio's console, set the number's (or messaging service's) \"A message comes in\" webhook to this URL, HTTP POST, so STOP and START reach Herald; delivery statuses come back to it by themselves." }
                }
                Settings::WhatsApp(w) => {
                    dl {
                        dt { "Callback URL" } dd { (copyable("webhook-url", &url)) }
                        dt { "Verify token" } dd { (copyable("verify-token", &w.verify_token)) }
                    }
                    p { "In your Meta app, under WhatsApp → Configuration, enter this callback URL and verify token and subscribe to the \"messages\" field." }
                    @if w.app_secret.is_empty() {
                        p.notice.warn role="status" { "No app secret yet: Herald refuses Meta's webhooks until it can check their signatures." }
                    }
                }
                Settings::Email(_) => {}
            }
            p { "Opted out: " strong { (opted_out) } " recipients texted STOP and get nothing more through this channel until they text START." }
        }
    }
}
