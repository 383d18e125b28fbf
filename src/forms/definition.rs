//! What an admin builds: the form's fields, the lists it signs people up to, its consent
//! checkbox, what happens after a submission, and its spam settings, with the rules that
//! keep a definition valid. Stored as JSON in `forms.definition`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::FormError;
use crate::contacts::fields::{Field, FieldType};
use crate::lists::consent::MAX_TEXT;

/// The event a submission records unless the form names another.
pub const DEFAULT_EVENT: &str = "form_submitted";
/// Most fields one form shows.
pub const MAX_FIELDS: usize = 50;
/// Most lists one form signs up to.
pub const MAX_LISTS: usize = 20;
/// Most origins one form accepts embeds from.
pub const MAX_ORIGINS: usize = 50;
/// Longest minimum fill time, in seconds.
pub const MAX_MIN_FILL: u32 = 3600;

/// One field the form shows, mapped to a contact property.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// `email`, `firstName`, `lastName` or a declared custom field's key.
    pub key: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub required: bool,
}

/// The consent checkbox: the text the person agrees to, kept with their consent record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsentSpec {
    pub text: String,
    /// Whether the form refuses a submission with the box unticked.
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn yes() -> bool {
    true
}

/// A form's whole definition, as the API sends it and the database keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Definition {
    /// Shown above the fields on the hosted page.
    #[serde(default)]
    pub description: String,
    pub fields: Vec<FieldSpec>,
    /// The lists a submission joins (public ids).
    #[serde(default)]
    pub list_ids: Vec<String>,
    /// Whether the person picks among the form's public lists (checkboxes) instead of
    /// joining them all; private lists are joined either way.
    #[serde(default)]
    pub list_choice: bool,
    #[serde(default)]
    pub consent: Option<ConsentSpec>,
    /// Shown after a submission when there is no redirect.
    pub success_message: String,
    /// Where the browser goes after a submission, instead of the success message.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// The event a submission records.
    pub event_name: String,
    /// Origins whose pages may post this form from a browser (`*`: any); Herald's own
    /// hosted page always may.
    pub allowed_origins: Vec<String>,
    /// Seconds that must pass between showing the form and a submission carrying its
    /// timing token; 0 turns the check off.
    pub min_fill_seconds: u32,
    /// Whether a submission without a timing token is refused (strict) or accepted with
    /// the other checks (lenient, so the plain snippet works with JavaScript off).
    #[serde(default)]
    pub require_token: bool,
    /// The button's text.
    pub submit_label: String,
}

impl Default for Definition {
    fn default() -> Self {
        Definition {
            description: String::new(),
            fields: vec![FieldSpec {
                key: "email".into(),
                label: "Email".into(),
                required: true,
            }],
            list_ids: Vec::new(),
            list_choice: false,
            consent: None,
            success_message: "Thank you! You are signed up.".into(),
            redirect_url: None,
            event_name: DEFAULT_EVENT.into(),
            allowed_origins: vec!["*".into()],
            min_fill_seconds: 3,
            require_token: false,
            submit_label: "Subscribe".into(),
        }
    }
}

/// How a field is entered, from its key and the workspace's declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Email,
    Text,
    Number,
    Checkbox,
    Date,
}

/// The input kind of `key`, or `None` if it is neither built in nor declared (any more).
pub fn input_kind(key: &str, declared: &[Field]) -> Option<InputKind> {
    match key {
        "email" => Some(InputKind::Email),
        "firstName" | "lastName" => Some(InputKind::Text),
        _ => declared
            .iter()
            .find(|f| f.key == key)
            .map(|f| match f.field_type {
                FieldType::Text => InputKind::Text,
                FieldType::Number => InputKind::Number,
                FieldType::Boolean => InputKind::Checkbox,
                FieldType::Date => InputKind::Date,
            }),
    }
}

/// The label a field gets when the admin gives none.
pub fn default_label(key: &str, declared: &[Field]) -> String {
    match key {
        "email" => "Email".into(),
        "firstName" => "First name".into(),
        "lastName" => "Last name".into(),
        _ => declared
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.label.clone())
            .unwrap_or_else(|| key.to_string()),
    }
}

fn chars_at_most(value: &str, field: &str, max: usize) -> Result<(), FormError> {
    if value.chars().count() > max {
        return Err(FormError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

impl Definition {
    /// Checks every part and fills defaults (labels, the email field's `required`);
    /// custom fields must be declared in `declared`. Lists are checked in the write.
    pub fn validate(mut self, declared: &[Field]) -> Result<Definition, FormError> {
        chars_at_most(&self.description, "description", 2000)?;
        self.fields = validate_fields(self.fields, declared)?;
        if self.list_ids.len() > MAX_LISTS {
            return Err(FormError::invalid(
                "listIds",
                format!("must hold at most {MAX_LISTS} lists"),
            ));
        }
        if let Some(consent) = self.consent.take() {
            self.consent = Some(validate_consent(consent)?);
        }
        self.success_message = self.success_message.trim().to_string();
        if self.success_message.is_empty() {
            self.success_message = Definition::default().success_message;
        }
        chars_at_most(&self.success_message, "successMessage", 2000)?;
        self.redirect_url = match self.redirect_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(check_redirect(url)?),
        };
        self.event_name = self.event_name.trim().to_string();
        crate::events::patterns::check_name(&self.event_name)
            .map_err(|_| FormError::invalid("eventName", "must start with a letter and contain only letters, digits, _, . or - (at most 120)"))?;
        self.allowed_origins = validate_origins(&self.allowed_origins)?;
        if self.min_fill_seconds > MAX_MIN_FILL {
            return Err(FormError::invalid(
                "minFillSeconds",
                format!("must be between 0 and {MAX_MIN_FILL}"),
            ));
        }
        self.submit_label = self.submit_label.trim().to_string();
        if self.submit_label.is_empty() {
            self.submit_label = Definition::default().submit_label;
        }
        chars_at_most(&self.submit_label, "submitLabel", 100)?;
        Ok(self)
    }

    /// Whether a browser page at `origin` may post this form.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    /// Whether every origin may post it (CORS answers `*` then).
    pub fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }

    /// The definition as the API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "description": self.description,
            "fields": self.fields,
            "listIds": self.list_ids,
            "listChoice": self.list_choice,
            "consent": self.consent,
            "successMessage": self.success_message,
            "redirectUrl": self.redirect_url,
            "eventName": self.event_name,
            "allowedOrigins": self.allowed_origins,
            "minFillSeconds": self.min_fill_seconds,
            "requireToken": self.require_token,
            "submitLabel": self.submit_label,
        })
    }
}

fn validate_fields(
    fields: Vec<FieldSpec>,
    declared: &[Field],
) -> Result<Vec<FieldSpec>, FormError> {
    if fields.len() > MAX_FIELDS {
        return Err(FormError::invalid(
            "fields",
            format!("must hold at most {MAX_FIELDS} fields"),
        ));
    }
    let mut out: Vec<FieldSpec> = Vec::with_capacity(fields.len());
    for (i, mut field) in fields.into_iter().enumerate() {
        field.key = field.key.trim().to_string();
        if input_kind(&field.key, declared).is_none() {
            return Err(FormError::invalid(
                format!("fields[{i}].key"),
                format!(
                    "'{}' is not email, firstName, lastName or a declared contact field",
                    field.key
                ),
            ));
        }
        if out.iter().any(|f| f.key == field.key) {
            return Err(FormError::invalid(
                format!("fields[{i}].key"),
                format!("'{}' appears twice", field.key),
            ));
        }
        field.label = field.label.trim().to_string();
        if field.label.is_empty() {
            field.label = default_label(&field.key, declared);
        }
        chars_at_most(&field.label, &format!("fields[{i}].label"), 200)?;
        // The address is what a signup is; a form cannot make it optional.
        field.required |= field.key == "email";
        out.push(field);
    }
    if !out.iter().any(|f| f.key == "email") {
        return Err(FormError::invalid("fields", "must include the email field"));
    }
    Ok(out)
}

fn validate_consent(mut consent: ConsentSpec) -> Result<ConsentSpec, FormError> {
    consent.text = consent.text.trim().to_string();
    if consent.text.is_empty() {
        return Err(FormError::invalid("consent.text", "is required"));
    }
    if consent.text.len() > MAX_TEXT {
        return Err(FormError::invalid(
            "consent.text",
            format!("must be at most {MAX_TEXT} bytes"),
        ));
    }
    consent.version = consent
        .version
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if let Some(v) = &consent.version {
        chars_at_most(v, "consent.version", 200)?;
    }
    Ok(consent)
}

fn check_redirect(url: &str) -> Result<String, FormError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty()
    });
    if !host_ok || url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FormError::invalid(
            "redirectUrl",
            "must be an absolute http:// or https:// address",
        ));
    }
    Ok(url.to_string())
}

fn validate_origins(origins: &[String]) -> Result<Vec<String>, FormError> {
    if origins.len() > MAX_ORIGINS {
        return Err(FormError::invalid(
            "allowedOrigins",
            format!("must hold at most {MAX_ORIGINS} origins"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(origins.len());
    for (i, origin) in origins.iter().enumerate() {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if origin != "*" && !is_origin(&origin) {
            return Err(FormError::invalid(
                format!("allowedOrigins[{i}]"),
                "must be * or an origin such as https://www.example.com (scheme and host, no path)",
            ));
        }
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// `scheme://host[:port]` and nothing more.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 260
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// A slug is 1 to 64 lower-case letters, digits and inner hyphens: `/f/{slug}`.
pub fn check_slug(slug: &str) -> Result<(), FormError> {
    let valid = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(FormError::invalid(
            "slug",
            "must be 1 to 64 lower-case letters, digits and hyphens, not starting or ending with a hyphen",
        ))
    }
}

/// A slug made from a form's name ("Newsletter signup" → `newsletter-signup`).
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() { "form".into() } else { slug }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_slugs() {
        assert_eq!(slugify("Newsletter signup!"), "newsletter-signup");
        assert_eq!(slugify("  Été 2025 "), "t-2025");
        assert_eq!(slugify("***"), "form");
        assert!(check_slug("newsletter-signup").is_ok());
        assert!(check_slug("-x").is_err());
        assert!(check_slug("A").is_err());
    }

    #[test]
    fn origins_are_scheme_and_host() {
        let ok = validate_origins(&["https://Example.com/".into(), "*".into()]).unwrap();
        assert_eq!(ok, vec!["https://example.com", "*"]);
        assert!(validate_origins(&["https://example.com/page".into()]).is_err());
        assert!(validate_origins(&["example.com".into()]).is_err());
    }
}
