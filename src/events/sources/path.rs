//! Dot-paths into a JSON payload: `data.object.customer_email`, `items.0.sku`.
//!
//! A segment of digits indexes an array; on an object it is an ordinary key, so payloads
//! with numeric keys still work.

use serde_json::Value;

/// Most segments a path may have; payloads are never that deep in practice.
const MAX_SEGMENTS: usize = 32;
/// Longest path accepted.
const MAX_LEN: usize = 300;

/// Checks a path's syntax; the message completes "emailPath …".
pub fn check(path: &str) -> Result<(), String> {
    if path.len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters"));
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "'{path}' has an empty segment (use dots between keys, like data.customer.email)"
        ));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(format!("must have at most {MAX_SEGMENTS} segments"));
    }
    Ok(())
}

/// The value at `path`, if there is one (JSON `null` counts as none).
pub fn lookup<'a>(payload: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = payload;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!current.is_null()).then_some(current)
}

/// The string at `path`, or why there is none (the reason recorded for a skipped delivery).
pub fn string_at<'a>(payload: &'a Value, path: &str) -> Result<&'a str, String> {
    match lookup(payload, path) {
        None => Err(format!("no value at {path}")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("value at {path} is {}, not a string", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_nested_objects_and_array_indexes() {
        let v = json!({"data": {"object": {"email": "a@b.co"}}, "items": [{"sku": "x"}], "m": {"0": "zero"}});
        assert_eq!(string_at(&v, "data.object.email"), Ok("a@b.co"));
        assert_eq!(string_at(&v, "items.0.sku"), Ok("x"));
        assert_eq!(string_at(&v, "m.0"), Ok("zero"));
        assert_eq!(
            string_at(&v, "items.1.sku"),
            Err("no value at items.1.sku".into())
        );
        assert_eq!(
            string_at(&v, "items"),
            Err("value at items is an array, not a string".into())
        );
    }

    #[test]
    fn refuses_empty_segments() {
        assert!(check("data..email").is_err());
        assert!(check(".email").is_err());
        assert!(check("data.email").is_ok());
    }
}
