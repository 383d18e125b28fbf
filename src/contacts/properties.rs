//! Contact properties as the APIs send them: Sendra-style `contactProperties` and
//! custom field values, validated against the workspace's declared fields.

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::{ContactError, ContactPatch};

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
