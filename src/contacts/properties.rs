//! Contact properties as the APIs send them: Sendra-style `contactProperties` and
//! custom field values, validated against the workspace's declared fields.

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::{ContactError, ContactPatch, normalize_email, normalize_phone, normalize_tags};

/// A trimmed text value (`null` or blank clears it), at most `max` bytes.
pub(crate) fn text(value: &Value, key: &str, max: usize) -> Result<Option<String>, ContactError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.len() <= max => {
            let t = s.trim();
            Ok((!t.is_empty()).then(|| t.to_string()))
        }
        Value::String(_) => Err(ContactError::Invalid(format!(
            "{key} is longer than {max} bytes"
        ))),
        _ => Err(ContactError::Invalid(format!("{key} must be a string"))),
    }
}

/// Validates custom field values against the declared fields.
pub fn custom_values(
    values: &Map<String, Value>,
    declared: &[Field],
    max_string: usize,
    what: &str,
) -> Result<Map<String, Value>, ContactError> {
    let mut out = Map::new();
    for (key, value) in values {
        let field = declared.iter().find(|f| &f.key == key).ok_or_else(|| {
            ContactError::Invalid(format!(
                "Unknown contact property '{key}' in {what}; declare it as a contact field first"
            ))
        })?;
        out.insert(key.clone(), fields::coerce(field, value, max_string)?);
    }
    Ok(out)
}

/// Builds a patch from Sendra-style `contactProperties`: firstName, lastName, name and
/// declared custom fields; anything else is refused by name.
pub fn patch_from_contact_properties(
    props: &Map<String, Value>,
    declared: &[Field],
    max_string: usize,
) -> Result<ContactPatch, ContactError> {
    let mut patch = ContactPatch::default();
    let mut custom = Map::new();
    for (key, value) in props {
        match key.as_str() {
            "firstName" => patch.first_name = Some(text(value, key, max_string)?),
            "lastName" => patch.last_name = Some(text(value, key, max_string)?),
            "name" => patch.name = Some(text(value, key, max_string)?),
            _ => {
                custom.insert(key.clone(), value.clone());
            }
        }
    }
    patch.properties = custom_values(&custom, declared, max_string, "contactProperties")?;
    Ok(patch)
}

/// Whether any key needs the workspace's field declarations to validate.
pub fn needs_fields(props: &Map<String, Value>) -> bool {
    props
        .keys()
        .any(|k| !matches!(k.as_str(), "firstName" | "lastName" | "name"))
}

/// Parses a contact body (create, update, subscribe) into a patch, so every door that
/// takes names and custom fields checks them the same way.
pub fn patch_from_body(
    body: &Map<String, Value>,
    declared: &[Field],
    max_string: usize,
) -> Result<ContactPatch, ContactError> {
    let mut patch = ContactPatch::default();
    if let Some(v) = body.get("email") {
        let email = text(v, "email", 254)?
            .ok_or_else(|| ContactError::Invalid("email cannot be empty".into()))?;
        patch.email = Some(normalize_email(&email)?);
    }
    if let Some(v) = body.get("phone") {
        patch.phone = Some(
            text(v, "phone", 32)?
                .map(|p| normalize_phone(&p))
                .transpose()?,
        );
    }
    if let Some(v) = body.get("externalId") {
        patch.external_id = Some(text(v, "externalId", 255)?);
    }
    for (key, slot) in [
        ("firstName", &mut patch.first_name),
        ("lastName", &mut patch.last_name),
        ("name", &mut patch.name),
    ] {
        if let Some(v) = body.get(key) {
            *slot = Some(text(v, key, max_string)?);
        }
    }
    match body.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => {
            patch.properties = custom_values(props, declared, max_string, "properties")?
        }
        Some(_) => return Err(ContactError::Invalid("properties must be an object".into())),
    }
    match body.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let tags: Option<Vec<String>> =
                items.iter().map(|t| t.as_str().map(String::from)).collect();
            let tags = tags
                .ok_or_else(|| ContactError::Invalid("tags must be an array of strings".into()))?;
            patch.tags = Some(normalize_tags(&tags)?);
        }
        Some(_) => {
            return Err(ContactError::Invalid(
                "tags must be an array of strings".into(),
            ));
        }
    }
    match body.get("subscribed") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => patch.subscribed = Some(*b),
        Some(_) => {
            return Err(ContactError::Invalid(
                "subscribed must be true or false".into(),
            ));
        }
    }
    Ok(patch)
}
