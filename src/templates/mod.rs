//! Templates: subject, HTML and text in Handlebars syntax, rendered in a sandbox.
//!
//! The registry has no file or directory sources, no script helper and no partials, so a
//! template can only read the context it is given. HTML is escaped by default; subjects
//! and text parts are rendered without HTML escaping. A missing variable renders empty.

pub mod api;
pub mod pages;
pub mod store;

use std::sync::OnceLock;

use handlebars::{Handlebars, Template};
use serde_json::{Map, Value, json};

use crate::contacts::Contact;

fn html_engine() -> &'static Handlebars<'static> {
    static ENGINE: OnceLock<Handlebars<'static>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(false);
        hb
    })
}

fn plain_engine() -> &'static Handlebars<'static> {
    static ENGINE: OnceLock<Handlebars<'static>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(false);
        hb.register_escape_fn(handlebars::no_escape);
        hb
    })
}

/// Checks that a template compiles; the error names the part and the position.
pub fn check(source: &str, what: &str) -> Result<(), String> {
    Template::compile(source)
        .map(|_| ())
        .map_err(|e| format!("{what} does not compile: {e}"))
}

/// Renders HTML (values escaped).
pub fn render_html(source: &str, context: &Value) -> Result<String, String> {
    html_engine()
        .render_template(source, context)
        .map_err(|e| e.to_string())
}

/// Renders a subject or a text part (values not escaped).
pub fn render_plain(source: &str, context: &Value) -> Result<String, String> {
    plain_engine()
        .render_template(source, context)
        .map_err(|e| e.to_string())
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Renders a template's three parts; without a text part one is derived from the HTML.
pub fn render_email(template: &store::Template, context: &Value) -> Result<RenderedEmail, String> {
    let subject = render_plain(&template.subject, context)?.replace(['\r', '\n'], " ");
    let html = render_html(&template.html, context)?;
    let text = match template.text.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(text) => render_plain(text, context)?,
        None => html_to_text(&html),
    };
    Ok(RenderedEmail {
        subject,
        html,
        text,
    })
}

/// The data a template sees: `contact.*`, `event.*`, `variables.*`, `unsubscribe_url`,
/// and top-level shorthands (contact fields, then event properties, then variables).
pub fn context(
    contact: &Contact,
    event: &Map<String, Value>,
    variables: &Map<String, Value>,
    unsubscribe_url: &str,
) -> Value {
    let mut contact_map = Map::new();
    for (k, v) in &contact.properties {
        contact_map.insert(k.clone(), v.clone());
    }
    for (k, v) in [
        ("email", json!(contact.email)),
        ("firstName", json!(contact.first_name)),
        ("lastName", json!(contact.last_name)),
        (
            "name",
            json!(
                contact
                    .name
                    .clone()
                    .or_else(|| Some(contact.display_name()))
            ),
        ),
        ("phone", json!(contact.phone)),
        ("externalId", json!(contact.external_id)),
        ("tags", json!(contact.tags)),
    ] {
        contact_map.insert(k.into(), v);
    }
    let mut root = Map::new();
    for source in [&contact_map, event, variables] {
        for (k, v) in source {
            root.insert(k.clone(), v.clone());
        }
    }
    root.insert("contact".into(), Value::Object(contact_map));
    root.insert("event".into(), Value::Object(event.clone()));
    root.insert("variables".into(), Value::Object(variables.clone()));
    root.insert("unsubscribe_url".into(), json!(unsubscribe_url));
    Value::Object(root)
}

/// A readable plain-text version of an HTML body.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4"
                ) {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&amp;", "&");
    decoded
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
        .split("\n\n\n")
        .collect::<Vec<_>>()
        .join("\n\n")
        .trim()
        .to_string()
}
