//! What the public sees of a form: the hosted page (`/f/{slug}`, no JavaScript needed,
//! one column on a phone, under the workspace's name), its answers after a submission,
//! and the embed snippet an admin copies, which is the same `<form>` with an absolute
//! action and an inline-styled honeypot, plus the optional script.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Map, Value};

use super::definition::{InputKind, input_kind};
use super::submit::{CONSENT_FIELD, HONEYPOT_FIELD, LISTS_FIELD, TOKEN_FIELD};
use super::{Form, FormError};
use crate::contacts::fields::Field;
use crate::lists::List;
use crate::ui::assets;

/// A form as it is about to be shown: with what was typed and what was wrong, if it is
/// shown again after a mistake.
pub struct Shown<'a> {
    pub form: &'a Form,
    pub declared: &'a [Field],
    /// The public lists a person may pick, when the form offers a choice.
    pub offered: &'a [List],
    pub values: &'a Map<String, Value>,
    pub mistakes: &'a [FormError],
    /// The signed time the form was shown; the snippet has none (its script fetches one).
    pub token: Option<&'a str>,
    /// Where the form posts.
    pub action: &'a str,
}

/// A whole public page: the workspace's name above the content, Herald's form styles.
pub fn page(sender: &str, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (sender) }
                link rel="stylesheet" href=(assets::url("form.css"));
            }
            body {
                div.sheet {
                    p.sender { (sender) }
                    div.card { (content) }
                    p.foot { "Sent securely to " (sender) " through Herald." }
                }
            }
        }
    }
}

/// The hosted page of a form.
pub fn hosted(sender: &str, shown: &Shown<'_>) -> Markup {
    let form = shown.form;
    let content = html! {
        h1 { (form.name) }
        @if !form.def.description.is_empty() { p.intro { (form.def.description) } }
        (form_markup(shown, false))
    };
    page(sender, &form.name, content)
}

/// The page after a submission, when the form has no redirect.
pub fn done(sender: &str, form: &Form, requires_confirmation: bool, back: Option<&str>) -> Markup {
    let content = html! {
        h1 { (form.name) }
        p.done role="status" { (form.def.success_message) }
        @if requires_confirmation {
            p { "We sent you an email: use the link in it to confirm your subscription." }
        }
        @if let Some(back) = back { p { a href=(back) { "← Back to " (back) } } }
    };
    page(sender, &form.name, content)
}

/// A page that says why a submission was not taken (spam checks, a refused origin).
pub fn refused(sender: &str, form: &Form, message: &str) -> Markup {
    let content = html! {
        h1 { (form.name) }
        p.errors role="alert" { (message) }
        p { a href=(format!("{}{}", super::PUBLIC_PATH, form.slug)) { "Open the form again" } }
    };
    page(sender, &form.name, content)
}

/// What a mistake says to the person, after the field's label.
pub fn human(form: &Form, mistake: &FormError) -> String {
    let FormError::Invalid { field, message } = mistake else {
        return mistake.to_string();
    };
    if field.is_empty() {
        return format!("{message}.");
    }
    if field == CONSENT_FIELD {
        return "Please tick the box to agree before you sign up.".into();
    }
    if field.starts_with(LISTS_FIELD) {
        return "One of the lists picked is not offered by this form.".into();
    }
    let label = form
        .def
        .fields
        .iter()
        .find(|f| &f.key == field)
        .map(|f| f.label.as_str())
        .unwrap_or(field.as_str());
    format!("{label} {message}.")
}

fn text_of(values: &Map<String, Value>, key: &str) -> String {
    match values.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Array(_) | Value::Object(_)) => String::new(),
        Some(other) => other.to_string(),
    }
}

fn is_ticked(values: &Map<String, Value>, key: &str) -> bool {
    match values.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty() && s != "false" && s != "0",
        _ => false,
    }
}

fn mistake_for<'a>(shown: &'a Shown<'_>, key: &str) -> Option<&'a FormError> {
    shown.mistakes.iter().find(
        |m| matches!(m, FormError::Invalid { field, .. } if field == key || field.starts_with(&format!("{key}["))),
    )
}

/// The `<form>` itself: fields, consent, list choice, timing token, honeypot, button.
/// `embed` gives the honeypot an inline style (the embedding page has no form.css).
pub fn form_markup(shown: &Shown<'_>, embed: bool) -> Markup {
    let form = shown.form;
    html! {
        form method="post" action=(shown.action) data-herald-form {
            @if !shown.mistakes.is_empty() {
                div.errors role="alert" {
                    strong { "Please check the form:" }
                    ul { @for m in shown.mistakes { li { (human(form, m)) } } }
                }
            }
            @for field in &form.def.fields {
                @if let Some(kind) = input_kind(&field.key, shown.declared) {
                    (field_markup(shown, &field.key, &field.label, field.required, kind))
                }
            }
            @if !shown.offered.is_empty() {
                fieldset {
                    legend { "Lists" }
                    @for list in shown.offered {
                        label.check {
                            input type="checkbox" name=(LISTS_FIELD) value=(list.uid) checked[list_picked(shown.values, &list.uid)];
                            span { (list.name) }
                        }
                    }
                }
            }
            @if let Some(consent) = &form.def.consent {
                label.check {
                    input type="checkbox" name=(CONSENT_FIELD) value="yes" required[consent.required] checked[is_ticked(shown.values, CONSENT_FIELD)];
                    span { (consent.text) @if consent.required { " " span.req aria-hidden="true" { "*" } } }
                }
                @if mistake_for(shown, CONSENT_FIELD).is_some() { span.field-error { "Please tick the box to agree." } }
            }
            @if let Some(token) = shown.token { input type="hidden" name=(TOKEN_FIELD) value=(token); }
            (honeypot(embed))
            button type="submit" { (form.def.submit_label) }
            p data-herald-message role="status" aria-live="polite" {}
        }
    }
}

fn list_picked(values: &Map<String, Value>, uid: &str) -> bool {
    match values.get(LISTS_FIELD) {
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(uid)),
        Some(Value::String(s)) => s == uid,
        _ => false,
    }
}

fn honeypot(embed: bool) -> Markup {
    let style =
        embed.then_some("position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden");
    html! {
        div.hp aria-hidden="true" style=[style] {
            label { "Leave this empty" input type="text" name=(HONEYPOT_FIELD) tabindex="-1" autocomplete="off" value=""; }
        }
    }
}

fn field_markup(
    shown: &Shown<'_>,
    key: &str,
    label: &str,
    required: bool,
    kind: InputKind,
) -> Markup {
    let error = mistake_for(shown, key).map(|m| human(shown.form, m));
    let id = format!("f-{key}");
    let star = html! { @if required { " " span.req aria-hidden="true" { "*" } } };
    let value = text_of(shown.values, key);
    let (kind_attr, autocomplete) = match (kind, key) {
        (InputKind::Email, _) => ("email", Some("email")),
        (_, "firstName") => ("text", Some("given-name")),
        (_, "lastName") => ("text", Some("family-name")),
        (InputKind::Number, _) => ("number", None),
        (InputKind::Date, _) => ("date", None),
        _ => ("text", None),
    };
    html! {
        @if kind == InputKind::Checkbox {
            label.check for=(id) {
                input #(id) type="checkbox" name=(key) value="on" required[required] checked[is_ticked(shown.values, key)];
                span { (label) (star) }
            }
            @if let Some(e) = &error { span.field-error { (e) } }
        } @else {
            label for=(id) {
                (label) (star)
                input #(id) type=(kind_attr) name=(key) value=(value) required[required]
                    autocomplete=[autocomplete] step=[(kind == InputKind::Number).then_some("any")]
                    aria-invalid=[error.is_some().then_some("true")];
                @if let Some(e) = &error { span.field-error { (e) } }
            }
        }
    }
}

/// The embed snippet: the plain `<form>`, which works with JavaScript off, and the
/// optional script that fills the timing token and shows answers in place.
pub fn snippet(form: &Form, declared: &[Field], offered: &[List], base_url: &str) -> String {
    let action = format!("{base_url}{}{}", super::PUBLIC_PATH, form.slug);
    let values = Map::new();
    let shown = Shown {
        form,
        declared,
        offered,
        values: &values,
        mistakes: &[],
        token: None,
        action: &action,
    };
    let script = format!("{base_url}{}", assets::url("form.js"));
    let markup = html! {
        (form_markup(&shown, true))
        (PreEscaped("\n<!-- Optional: answers in place, without leaving the page. -->\n"))
        script src=(script) defer {}
    };
    markup.into_string().replace("><", ">\n<")
}
