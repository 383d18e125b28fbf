//! Settings → Channels: the workspace's channels, forms for a new mailbox, SMS number or
//! WhatsApp instance, and a channel's page (its settings; for a mailbox DKIM with the
//! records to publish and a test send, for SMS and WhatsApp the webhook to configure at
//! the provider; its tokens). A token is shown on the one page that makes or rotates it.
//! Members see everything but no button that changes anything. The SMS and WhatsApp
//! markup and form reading live in `pages_text.rs`.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::pages_text::{self, noun};
use super::{Channel, ChannelError, ChannelKind, Settings, TokenInfo, input, opt_outs, store};
use crate::auth::policy::Need;
use crate::http::extract::SignedIn;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;
use crate::ui::components::{csrf_input, danger_button, redirect};
use crate::ui::{Flash, Nav, PageError, format_time, render};

const BASE: &str = "/settings/channels";

/// Routes of the channel pages.
pub fn routes(r: &mut Routes<'_>) {
    let at = |rest: &str| format!("{BASE}/{{id}}{rest}");
    r.get(BASE, Access::Page(Need::Read), index)
        .post(BASE, Access::Page(Need::Manage), create)
        .get(&at(""), Access::Page(Need::Read), show)
        .post(&at(""), Access::Page(Need::Manage), update)
        .post(&at("/delete"), Access::Page(Need::Manage), delete)
        .post(
            &at("/dkim"),
            Access::Page(Need::Manage),
            super::pages_dkim::make_dkim,
        )
        .post(
            &at("/dkim/check"),
            Access::Page(Need::Manage),
            super::pages_dkim::check_dkim,
        )
        .post(&at("/test"), Access::Page(Need::Manage), send_test)
        .post(&at("/tokens"), Access::Page(Need::Manage), new_token)
        .post(
            &at("/tokens/{token}/rotate"),
            Access::Page(Need::Manage),
            rotate_token,
        )
        .post(
            &at("/tokens/{token}/delete"),
            Access::Page(Need::Manage),
            delete_token,
        );
}

impl From<ChannelError> for PageError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Invalid { field, message } => {
                PageError::BadRequest(format!("{field} {message}"))
            }
            ChannelError::NotFound | ChannelError::TokenNotFound => PageError::NotFound,
            ChannelError::Store(e) => e.into(),
        }
    }
}

pub(super) type Pairs = web::Form<Vec<(String, String)>>;

/// The value of form field `name`, empty when the form has none (shared with
/// `pages_text.rs`).
pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub(super) fn page_of(uid: &str) -> String {
    format!("{BASE}/{uid}")
}

/// The mailbox a mailbox-only form (DKIM, send a test) posts to, once its CSRF token
/// checks: `Ok(Err(..))` is the redirect back saying `why` when the channel is not one.
pub(super) fn mailbox_form(
    state: &AppState,
    user: &SignedIn,
    uid: &str,
    form: &[(String, String)],
    why: &str,
) -> Result<Result<Channel, HttpResponse>, PageError> {
    user.check_csrf(field(form, crate::ui::csrf::FIELD))?;
    let channel = find(state, user, uid)?;
    if channel.kind() != ChannelKind::Email {
        return Ok(Err(redirect(&page_of(&channel.uid), Flash::error(why))));
    }
    Ok(Ok(channel))
}

pub(super) fn find(state: &AppState, user: &SignedIn, uid: &str) -> Result<Channel, PageError> {
    let ws = user.0.workspace.id;
    Ok(state
        .store
        .read(|c| store::get(c, ws, uid))?
        .ok_or(ChannelError::NotFound)?)
}

/// The form's fields as the API's JSON for a channel of `kind` (the form's hidden `kind`
/// field when creating, the channel's own when editing).
fn body_of(kind: &str, pairs: &[(String, String)]) -> Map<String, Value> {
    match ChannelKind::parse(kind) {
        Some(k @ (ChannelKind::Sms | ChannelKind::WhatsApp)) => pages_text::body_of(k, pairs),
        Some(ChannelKind::Email) => mailbox_body(pairs),
        None => Map::from_iter([("kind".to_string(), json!(kind))]),
    }
}

/// The mailbox form's fields as the API's JSON: a blank SMTP host means the install's
/// server, a blank password keeps the one stored.
fn mailbox_body(pairs: &[(String, String)]) -> Map<String, Value> {
    let f = |n: &str| field(pairs, n).trim().to_string();
    let mut m = Map::new();
    m.insert("kind".into(), json!("email"));
    for (key, name) in [
        ("name", "name"),
        ("fromName", "from_name"),
        ("fromAddress", "from_address"),
        ("replyTo", "reply_to"),
    ] {
        m.insert(key.into(), json!(f(name)));
    }
    let rate = f("rate_per_second");
    m.insert(
        "ratePerSecond".into(),
        rate.parse::<f64>().map(|r| json!(r)).unwrap_or(json!(rate)),
    );
    if f("smtp_host").is_empty() {
        m.insert("smtp".into(), Value::Null);
    } else {
        let mut smtp =
            json!({"host": f("smtp_host"), "tls": f("smtp_tls"), "username": f("smtp_username")});
        let port = f("smtp_port");
        smtp["port"] = port.parse::<u64>().map(|p| json!(p)).unwrap_or(json!(port));
        let password = field(pairs, "smtp_password");
        if !password.is_empty() {
            smtp["password"] = json!(password);
        }
        m.insert("smtp".into(), smtp);
    }
    m
}

/// A labelled input (shared with `pages_text.rs`).
pub(super) fn text_input(label: &str, name: &str, value: &str, kind: &str) -> Markup {
    html! {
        label { (label) input type=(kind) name=(name) value=(value); }
    }
}

/// The sender, server and signing cells of a channel in the list.
fn channel_row(c: &Channel) -> Markup {
    match &c.settings {
        Settings::Email(m) => html! {
            td { (m.from_name) " <" (m.from_address) ">" }
            td { @match &m.smtp { Some(s) => { code { (s.host) ":" (s.port) } } None => { span.muted { "this install's" } } } }
            td { @if m.dkim.is_some() { span.badge.good { "signed" } } @else { span.badge.bad { "not signed" } } }
        },
        Settings::Sms(n) => html! {
            td { (n.account.from.as_deref().or(n.account.messaging_service_sid.as_deref()).unwrap_or("")) }
            td { code { (n.account.base_url) } }
            td { span.muted { "—" } }
        },
        Settings::WhatsApp(w) => html! {
            td { "phone number id " (w.account.phone_number_id) }
            td { code { (w.account.base_url) "/" (w.account.api_version) } }
            td { span.muted { "—" } }
        },
    }
}

/// The mailbox fields, filled from `channel` when editing.
fn mailbox_fields(channel: Option<&Channel>) -> Markup {
    let mailbox = channel.and_then(|c| match &c.settings {
        Settings::Email(m) => Some(m),
        _ => None,
    });
    let smtp = mailbox.and_then(|m| m.smtp.as_ref());
    let tls = smtp
        .map(|s| format!("{:?}", s.tls).to_lowercase())
        .unwrap_or("starttls".into());
    html! {
        input type="hidden" name="kind" value="email";
        (text_input("Name", "name", channel.map_or("", |c| c.name.as_str()), "text"))
        (text_input("Sender name", "from_name", mailbox.map_or("", |m| m.from_name.as_str()), "text"))
        (text_input("Sender address", "from_address", mailbox.map_or("", |m| m.from_address.as_str()), "email"))
        (text_input("Reply-to (optional)", "reply_to", mailbox.and_then(|m| m.reply_to.as_deref()).unwrap_or(""), "email"))
        (text_input("Messages per second (0: no limit)", "rate_per_second", &mailbox.map_or(0.0, |m| m.rate_per_second).to_string(), "number"))
        fieldset {
            legend { "Own SMTP server (leave the host blank to send through this install's)" }
            (text_input("Host", "smtp_host", smtp.map_or("", |s| s.host.as_str()), "text"))
            (text_input("Port", "smtp_port", &smtp.map_or(587, |s| s.port).to_string(), "number"))
            label { "Security" select name="smtp_tls" {
                @for t in ["starttls", "tls", "none"] { option value=(t) selected[t == tls] { (t) } }
            } }
            (text_input("Username", "smtp_username", smtp.map_or("", |s| s.username.as_str()), "text"))
            label { "Password" input type="password" name="smtp_password" autocomplete="new-password"
                placeholder=(if smtp.is_some_and(|s| !s.password.is_empty()) { "stored; type to replace" } else { "" }); }
        }
    }
}

async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "settings")?;
    let ws = user.0.workspace.id;
    let channels = state.store.read(|c| store::list(c, ws))?;
    let manage = user.0.role.can_manage();
    let body = html! {
        p { a href="/settings" { "← Settings" } }
        section.card {
            h2 { "Channels (" (channels.len()) ")" }
            @if channels.is_empty() { p.muted { "No channels yet: mail goes out from the install's sender." } }
            @else { div.table-wrap { table {
                thead { tr { th { "Name" } th { "Kind" } th { "Sender" } th { "Server" } th { "DKIM" } } }
                tbody { @for c in &channels {
                    tr {
                        td { a href=(page_of(&c.uid)) { (c.name) } }
                        td { (c.kind().as_str()) }
                        (channel_row(c))
                    }
                } }
            } } }
        }
        @if manage { section.card {
            h2 { "New email mailbox" }
            form method="post" action=(BASE) {
                (csrf_input(&user.0.csrf_token))
                (mailbox_fields(None))
                button type="submit" { "Create mailbox" }
            }
        }
        (pages_text::new_forms(BASE, &user.0.csrf_token)) }
    };
    Ok(render(&req, Some(&nav), "Channels", body))
}

async fn create(
    state: web::Data<AppState>,
    user: SignedIn,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, crate::ui::csrf::FIELD))?;
    let kind = match field(&form, "kind") {
        "" => "email",
        k => k,
    };
    let parsed = match input::parse_new(&body_of(kind, &form)) {
        Ok(p) => p,
        Err(e) => return Ok(redirect(BASE, Flash::error(e.to_string()))),
    };
    let ws = user.0.workspace.id;
    let made = state
        .store
        .write(move |c| store::create(c, ws, &parsed))
        .await?;
    let next = match made.kind() {
        ChannelKind::Email => "Give it a DKIM key next.",
        ChannelKind::Sms => "Set its webhook at Twilio next.",
        ChannelKind::WhatsApp => "Set its webhook in your Meta app next.",
    };
    Ok(redirect(
        &page_of(&made.uid),
        Flash::success(format!(
            "{} {} created. {next}",
            capitalized(noun(made.kind())),
            made.name
        )),
    ))
}

/// `s` with its first letter upper case, for a noun that starts a message.
fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn dkim_card(channel: &Channel, manage: bool, csrf: &str) -> Markup {
    let Settings::Email(m) = &channel.settings else {
        return html! {};
    };
    let dns = m.dns_json();
    let action = format!("{}/dkim", page_of(&channel.uid));
    html! {
        section.card {
            h2 { "DKIM and DNS for " code { (m.domain()) } }
            @match &m.dkim {
                Some(k) => {
                    p { "Every message is signed with the " (k.algorithm.as_str()) " key, selector " code { (k.selector) } ". Publish this TXT record:" }
                    dl { dt { "Name" } dd { code { (k.dns_name(m.domain())) } } dt { "Value" } dd { code.wrap { (k.dns_record()) } } }
                    @if manage { form method="post" action=(format!("{action}/check")) { (csrf_input(csrf)) button type="submit" { "Check the published record" } } }
                }
                None => { p.notice.warn role="status" { "Not signed yet: Gmail and Yahoo want DKIM from bulk senders." } }
            }
            p { "SPF: a TXT record on " code { (m.domain()) } " naming your SMTP provider, e.g. " code { (dns["spf"]["value"].as_str().unwrap_or("")) } "." }
            p { "DMARC: " code { (dns["dmarc"]["name"].as_str().unwrap_or("")) } " " code { (dns["dmarc"]["value"].as_str().unwrap_or("")) } " to begin with." }
            @if manage {
                form method="post" action=(action) {
                    (csrf_input(csrf))
                    label { "Selector" input type="text" name="selector" value="herald"; }
                    button type="submit" name="algorithm" value="rsa" { "Generate RSA-2048 key" }
                    " "
                    button type="submit" name="algorithm" value="ed25519" { "Generate Ed25519 key" }
                }
            }
        }
    }
}

fn tokens_card(channel: &Channel, tokens: &[TokenInfo], manage: bool, csrf: &str) -> Markup {
    let base = format!("{}/tokens", page_of(&channel.uid));
    html! {
        section.card {
            h2 { "Tokens (" (tokens.len()) ")" }
            p { "An application sends through this channel with " code { "POST /api/integration/generic" } " and " code { "Authorization: Bearer <token>" } "." }
            @if !tokens.is_empty() { div.table-wrap { table {
                thead { tr { th { "Name" } th { "Starts with" } th { "Created" } th { "Last used" } @if manage { th { "" } } } }
                tbody { @for t in tokens { tr {
                    td { (t.name) } td { code { (t.prefix) "…" } } td { (format_time(t.created_at)) }
                    td { @match t.last_used_at { Some(at) => { (format_time(at)) } None => { span.muted { "never" } } } }
                    @if manage { td {
                        (danger_button(&format!("{base}/{}/rotate", t.uid), "The old value stops working at once. Rotate?", csrf, "Rotate"))
                        (danger_button(&format!("{base}/{}/delete", t.uid), "Applications using it stop at once. Delete?", csrf, "Delete"))
                    } }
                } } }
            } } }
            @if manage { form method="post" action=(base) {
                (csrf_input(csrf))
                label { "Name" input type="text" name="name" value="Custom integration"; }
                button type="submit" { "New token" }
            } }
        }
    }
}

/// The channel's settings: its edit form and delete button for a manager, what it is
/// for anyone else.
fn settings_card(channel: &Channel, manage: bool, csrf: &str) -> Markup {
    let page = page_of(&channel.uid);
    html! {
        section.card {
            h2 { (channel.name) }
            @if manage {
                form method="post" action=(page) {
                    (csrf_input(csrf))
                    @match channel.kind() {
                        ChannelKind::Email => (mailbox_fields(Some(channel))),
                        ChannelKind::Sms => (pages_text::sms_fields(Some(channel))),
                        ChannelKind::WhatsApp => (pages_text::whatsapp_fields(Some(channel))),
                    }
                    button type="submit" { "Save" }
                }
                (danger_button(&format!("{page}/delete"), "Its tokens will answer CHANNEL_NOT_FOUND. Delete?", csrf, &format!("Delete {}", noun(channel.kind()))))
            } @else if let Settings::Email(m) = &channel.settings {
                p { (m.from_name) " <" (m.from_address) ">" }
            } @else {
                (pages_text::summary(channel))
            }
        }
    }
}

async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let nav = user.nav(&state, "settings")?;
    let channel = find(&state, &user, &id)?;
    let cid = channel.id;
    let tokens = state.store.read(|c| store::tokens(c, cid))?;
    let opted_out = state.store.read(|c| opt_outs::count(c, cid))?;
    let manage = user.0.role.can_manage();
    let csrf = user.0.csrf_token.clone();
    let body = html! {
        p { a href=(BASE) { "← Channels" } }
        (settings_card(&channel, manage, &csrf))
        @if channel.kind() == ChannelKind::Email {
            @if manage { section.card {
                h2 { "Send a test" }
                form method="post" action=(format!("{}/test", page_of(&channel.uid))) {
                    (csrf_input(&csrf))
                    label { "To" input type="email" name="to" required; }
                    button type="submit" { "Send a test" }
                }
            } }
            (dkim_card(&channel, manage, &csrf))
        } @else {
            (pages_text::provider_card(&channel, &state.config.base_url(), opted_out))
        }
        (tokens_card(&channel, &tokens, manage, &csrf))
    };
    Ok(render(&req, Some(&nav), &channel.name, body))
}

async fn update(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, crate::ui::csrf::FIELD))?;
    let current = find(&state, &user, &id)?;
    let page = page_of(&current.uid);
    let kind = current.kind();
    let parsed = match input::parse_update(&body_of(kind.as_str(), &form), &current) {
        Ok(p) => p,
        Err(e) => return Ok(redirect(&page, Flash::error(e.to_string()))),
    };
    let ws = user.0.workspace.id;
    state
        .store
        .write(move |c| store::update(c, ws, &current.uid, &parsed))
        .await?;
    Ok(redirect(
        &page,
        Flash::success(format!("{} saved.", capitalized(noun(kind)))),
    ))
}

async fn delete(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, crate::ui::csrf::FIELD))?;
    let channel = find(&state, &user, &id)?;
    let kind = channel.kind();
    let ws = user.0.workspace.id;
    state
        .store
        .write(move |c| store::delete(c, ws, &channel.uid))
        .await?;
    Ok(redirect(
        BASE,
        Flash::success(format!("{} deleted.", capitalized(noun(kind)))),
    ))
}

/// The one page that shows a token in full.
fn token_shown(
    req: &HttpRequest,
    nav: &Nav,
    channel: &Channel,
    token: &str,
    what: &str,
) -> HttpResponse {
    let body = html! {
        section.card {
            h2 { (what) }
            p.notice.warn role="status" { "Copy it now: Herald keeps only its hash and cannot show it again." }
            p { code #channel-token .wrap { (token) } " " button type="button" data-copy="channel-token" { "Copy" } }
            p { a href=(page_of(&channel.uid)) { "← Back to " (channel.name) } }
        }
    };
    render(req, Some(nav), what, body)
}

async fn new_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    id: web::Path<String>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, crate::ui::csrf::FIELD))?;
    let nav = user.nav(&state, "settings")?;
    let channel = find(&state, &user, &id)?;
    let name = field(&form, "name").trim();
    let name = if name.is_empty() {
        "Custom integration"
    } else {
        name
    }
    .chars()
    .take(100)
    .collect::<String>();
    let held = channel.clone();
    let (_, token) = state
        .store
        .write(move |c| store::create_token(c, &held, &name))
        .await?;
    Ok(token_shown(&req, &nav, &channel, &token, "New token"))
}

async fn rotate_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    path: web::Path<(String, String)>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, crate::ui::csrf::FIELD))?;
    let nav = user.nav(&state, "settings")?;
    let (id, token) = path.into_inner();
    let channel = find(&state, &user, &id)?;
    let cid = channel.id;
    let (_, fresh) = state
        .store
        .write(move |c| store::rotate_token(c, cid, &token))
        .await?;
    Ok(token_shown(&req, &nav, &channel, &fresh, "Token rotated"))
}

async fn delete_token(
    state: web::Data<AppState>,
    user: SignedIn,
    path: web::Path<(String, String)>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(field(&form, crate::ui::csrf::FIELD))?;
    let (id, token) = path.into_inner();
    let channel = find(&state, &user, &id)?;
    let cid = channel.id;
    state
        .store
        .write(move |c| store::delete_token(c, cid, &token))
        .await?;
    Ok(redirect(
        &page_of(&channel.uid),
        Flash::success("Token deleted."),
    ))
}

async fn send_test(
    state: web::Data<AppState>,
    user: SignedIn,
    id: web::Path<String>,
    form: Pairs,
) -> Result<HttpResponse, PageError> {
    let channel = match mailbox_form(
        &state,
        &user,
        &id,
        &form,
        "Only a mailbox sends a test email.",
    )? {
        Ok(c) => c,
        Err(back) => return Ok(back),
    };
    let page = page_of(&channel.uid);
    let to = field(&form, "to").trim();
    if !input::is_email(to) {
        return Ok(redirect(
            &page,
            Flash::error("Give an email address to send the test to."),
        ));
    }
    let outcome =
        crate::delivery::channel_test::send(&state.store, &state.config, &channel, to).await;
    let flash = if outcome.ok {
        Flash::success(format!("Test sent: {}.", outcome.detail))
    } else {
        Flash::error(format!("Test failed: {}.", outcome.detail))
    };
    Ok(redirect(&page, flash))
}
