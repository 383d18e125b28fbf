//! Declared custom contact fields and the validation of their values.

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Number, Value};

use super::ContactError;
use crate::kinds::WorkspaceId;

/// The value type of a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Date,
}

impl FieldType {
    pub fn parse(s: &str) -> Result<FieldType, ContactError> {
        match s {
            "text" => Ok(FieldType::Text),
            "number" => Ok(FieldType::Number),
            "boolean" => Ok(FieldType::Boolean),
            "date" => Ok(FieldType::Date),
            other => Err(ContactError::Invalid(format!(
                "Unknown field type '{other}' (text, number, boolean or date)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
        }
    }
}

/// A declared custom field.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
}

/// Keys that name built-in properties and so cannot be declared.
pub const RESERVED: &[&str] = &[
    "id",
    "email",
    "firstName",
    "lastName",
    "name",
    "phone",
    "externalId",
    "tags",
    "subscribed",
    "createdAt",
    "updatedAt",
    "first_name",
    "last_name",
    "external_id",
];

fn check_key(key: &str) -> Result<(), ContactError> {
    let mut chars = key.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && key.len() <= 64;
    if !valid {
        return Err(ContactError::Invalid(format!(
            "Field key '{key}' must start with a letter and contain only letters, digits and _ (at most 64)"
        )));
    }
    if RESERVED.contains(&key) {
        return Err(ContactError::Invalid(format!(
            "'{key}' is a built-in property"
        )));
    }
    Ok(())
}

/// Every declared field of the workspace, by key.
pub fn list(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Field>, ContactError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, label, type FROM contact_fields WHERE workspace_id = ?1 ORDER BY key",
    )?;
    let rows = stmt.query_map([ws], |r| {
        let t: String = r.get(2)?;
        Ok(Field {
            key: r.get(0)?,
            label: r.get(1)?,
            field_type: FieldType::parse(&t).unwrap_or(FieldType::Text),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Declares a field (or changes its label; the type of an existing field is fixed).
pub fn declare(
    conn: &Connection,
    ws: WorkspaceId,
    key: &str,
    label: &str,
    field_type: FieldType,
) -> Result<Field, ContactError> {
    check_key(key)?;
    if let Some(existing) = list(conn, ws)?.into_iter().find(|f| f.key == key)
        && existing.field_type != field_type
    {
        return Err(ContactError::Conflict(format!(
            "Field '{key}' already exists with type {}",
            existing.field_type.as_str()
        )));
    }
    let label = if label.trim().is_empty() {
        key
    } else {
        label.trim()
    };
    conn.prepare_cached(
        "INSERT INTO contact_fields (workspace_id, key, label, type, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (workspace_id, key) DO UPDATE SET label = excluded.label",
    )?
    .execute(params![ws, key, label, field_type.as_str(), crate::store::here().now_ms()])?;
    Ok(Field {
        key: key.into(),
        label: label.into(),
        field_type,
    })
}

/// Removes a declaration; values already stored stay on contacts until changed.
pub fn remove(conn: &Connection, ws: WorkspaceId, key: &str) -> Result<(), ContactError> {
    let n = conn
        .prepare_cached("DELETE FROM contact_fields WHERE workspace_id = ?1 AND key = ?2")?
        .execute(params![ws, key])?;
    if n == 0 {
        return Err(ContactError::Missing(format!(
            "No contact field named '{key}'"
        )));
    }
    Ok(())
}

/// Checks (and normalises) a value for a field; `raw_text` allows CSV-style strings.
pub fn coerce(field: &Field, value: &Value, max_string: usize) -> Result<Value, ContactError> {
    let bad = |expected: &str| {
        ContactError::Invalid(format!(
            "Field '{}' expects a {expected}, got {value}",
            field.key
        ))
    };
    match (field.field_type, value) {
        (_, Value::Null) => Ok(Value::Null),
        (FieldType::Text, Value::String(s)) if s.len() <= max_string => Ok(value.clone()),
        (FieldType::Text, Value::String(_)) => Err(ContactError::Invalid(format!(
            "Field '{}' is longer than {max_string} bytes",
            field.key
        ))),
        (FieldType::Text, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (FieldType::Text, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (FieldType::Number, Value::Number(_)) => Ok(value.clone()),
        (FieldType::Number, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|f| {
                if f.fract() == 0.0 && f.abs() < 9e15 {
                    Some(Number::from(f as i64))
                } else {
                    Number::from_f64(f)
                }
            })
            .map(Value::Number)
            .ok_or_else(|| bad("number")),
        (FieldType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (FieldType::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(bad("boolean")),
        },
        (FieldType::Date, Value::String(s)) => normalize_date(s)
            .map(Value::String)
            .ok_or_else(|| bad("date (YYYY-MM-DD or ISO 8601)")),
        (FieldType::Number, _) => Err(bad("number")),
        (FieldType::Boolean, _) => Err(bad("boolean")),
        (FieldType::Date, _) => Err(bad("date (YYYY-MM-DD or ISO 8601)")),
        (FieldType::Text, _) => Err(bad("text")),
    }
}

fn normalize_date(s: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return t.format(&Rfc3339).ok();
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format)
        .ok()
        .and_then(|d| d.format(&format).ok())
}
