//! Templates: subject, HTML and text in Handlebars syntax, rendered in a sandbox.
//!
//! The registry has no file or directory sources, no script helper, no partials and no
//! `log`, so a template can only read the context it is given; [`sandbox`] bounds what a
//! render may cost. HTML is escaped by default; subjects and text parts are rendered
//! without HTML escaping. A missing variable renders empty.

pub mod api;
pub mod pages;
pub mod sandbox;
pub mod store;

use serde_json::{Map, Value, json};

use crate::contacts::Contact;

/// Checks that a template is within the sandbox's limits; the error names the part.
pub fn check(source: &str, what: &str) -> Result<(), String> {
    sandbox::check(source)
        .map(|_| ())
        .map_err(|e| format!("{what} does not compile: {e}"))
}

/// Renders HTML (values escaped).
pub fn render_html(source: &str, context: &Value) -> Result<String, String> {
    sandbox::render_source(source, context, true)
}

/// Renders a subject or a text part (values not escaped).
pub fn render_plain(source: &str, context: &Value) -> Result<String, String> {
    sandbox::render_source(source, context, false)
}

/// A sample contact for previews when none is given.
pub fn sample_contact() -> Contact {
    Contact {
        id: 0,
        uid: "preview".into(),
        email: Some("ada@example.com".into()),
        external_id: None,
        phone: None,
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        name: None,
        properties: Map::new(),
        tags: vec![],
        subscribed: true,
        created_at: crate::store::here().now_ms(),
        updated_at: crate::store::here().now_ms(),
    }
}

/// Renders a template's parts for the sample contact, as a preview would: saving refuses
/// a template that is over the sandbox's limits even for that small context.
pub fn trial_render(template: &store::Template) -> Result<(), String> {
    let data = context(
        &sample_contact(),
        &Map::new(),
        &Map::new(),
        &OptOutUrls::preview("https://example.invalid"),
    );
    render_email(template, &data).map(|_| ())
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
/// `preferences_url`, and top-level shorthands (contact fields, then event properties,
/// then variables).
pub fn context(
    contact: &Contact,
    event: &Map<String, Value>,
    variables: &Map<String, Value>,
    opt_out: &OptOutUrls,
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
    root.insert("unsubscribe_url".into(), json!(opt_out.unsubscribe));
    root.insert("preferences_url".into(), json!(opt_out.preferences));
    Value::Object(root)
}

/// The signed opt-out links of a marketing email's recipient, which its template may
/// show and its footer always does (empty for mail that has none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptOutUrls {
    pub unsubscribe: String,
    pub preferences: String,
}

impl OptOutUrls {
    /// Stand-ins for previews and test sends, which have no real recipient.
    pub fn preview(base_url: &str) -> Self {
        OptOutUrls {
            unsubscribe: format!("{base_url}/unsubscribe/preview"),
            preferences: format!("{base_url}/preferences/preview"),
        }
    }
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
