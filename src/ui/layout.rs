//! The page frame: head, header with workspace switcher, navigation, flash, content.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{DOCTYPE, Markup, html};

use super::components::csrf_input;
use super::{Flash, assets};
use crate::auth::accounts::Membership;
use crate::auth::sessions::Session;
use crate::ui::flash::FlashKind;

/// What the header needs to know about the signed-in user.
pub struct Nav {
    pub session: Session,
    pub memberships: Vec<Membership>,
    /// The navigation entry to highlight.
    pub active: &'static str,
}

/// Navigation entries: only features that exist are listed.
const NAV_ITEMS: &[(&str, &str, &str)] = &[
    ("dashboard", "/", "Dashboard"),
    ("contacts", "/contacts", "Contacts"),
    ("lists", "/lists", "Lists"),
    ("segments", "/segments", "Segments"),
    ("forms", "/forms", "Forms"),
    ("events", "/events", "Events"),
    ("automations", "/automations", "Automations"),
    ("templates", "/templates", "Templates"),
    ("outbox", "/outbox", "Outbox"),
    ("settings", "/settings", "Settings"),
    ("account", "/account", "Account"),
];

/// Renders a full page with status 200; flash messages are shown and cleared.
pub fn render(req: &HttpRequest, nav: Option<&Nav>, title: &str, content: Markup) -> HttpResponse {
    render_with_status(req, StatusCode::OK, nav, title, content)
}

/// Renders a full page with the given status.
pub fn render_with_status(
    req: &HttpRequest,
    status: StatusCode,
    nav: Option<&Nav>,
    title: &str,
    content: Markup,
) -> HttpResponse {
    let flash = Flash::from_request(req);
    let page = page(nav, title, flash.as_ref(), content);
    let mut response = HttpResponse::build(status);
    response.content_type("text/html; charset=utf-8");
    response.insert_header(("X-Frame-Options", "DENY"));
    response.insert_header(("X-Content-Type-Options", "nosniff"));
    response.insert_header(("Referrer-Policy", "same-origin"));
    response.insert_header(("Cache-Control", "no-store"));
    if flash.is_some() {
        response.cookie(Flash::removal());
    }
    response.body(page.into_string())
}

/// The HTML of a page.
pub fn page(nav: Option<&Nav>, title: &str, flash: Option<&Flash>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Herald" }
                link rel="stylesheet" href=(assets::url("app.css"));
                script src=(assets::url("app.js")) defer {}
            }
            body {
                header.topbar {
                    a.brand href="/" { "Herald" }
                    @if let Some(nav) = nav {
                        (switcher(nav))
                        form.logout method="post" action="/logout" {
                            (csrf_input(&nav.session.csrf_token))
                            span.who { (nav.session.email) }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                div.shell {
                    @if let Some(nav) = nav {
                        nav.sidebar aria-label="Main" {
                            @for (key, href, label) in NAV_ITEMS {
                                a href=(href) class=@if *key == nav.active { "active" } { (label) }
                            }
                        }
                    }
                    main {
                        @if let Some(flash) = flash {
                            div class=(match flash.kind { FlashKind::Success => "flash success", FlashKind::Error => "flash error" }) role="status" {
                                (flash.message)
                            }
                        }
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
    }
}

fn switcher(nav: &Nav) -> Markup {
    html! {
        @if nav.memberships.len() > 1 {
            form.switcher method="post" action="/workspaces/switch" {
                (csrf_input(&nav.session.csrf_token))
                label for="workspace-switch" class="sr-only" { "Workspace" }
                select id="workspace-switch" name="workspace_id" data-autosubmit {
                    @for m in &nav.memberships {
                        option value=(m.workspace.uid) selected[m.workspace.id == nav.session.workspace.id] { (m.workspace.name) }
                    }
                }
                noscript { button type="submit" { "Switch" } }
            }
        } @else {
            span.workspace { (nav.session.workspace.name) }
        }
    }
}
