//! Form-encoded deliveries (`application/x-www-form-urlencoded`, as Twilio, Mailgun and
//! many form builders post) read into the same JSON shape a JSON delivery has, so one
//! source's dot-paths work on both:
//!
//! - `email=a%40b.com&plan=pro` → `{"email": "a@b.com", "plan": "pro"}`;
//! - brackets nest: `customer[email]=…` → `{"customer": {"email": …}}`, read by the path
//!   `customer.email`; `items[0][sku]=…` is reached by `items.0.sku`;
//! - `tag[]=a&tag[]=b`, or a key sent twice, makes an array.
//!
//! Every value stays a string: a form carries no types.

use serde_json::{Map, Value};

/// Most bracket levels one key may have.
const MAX_DEPTH: usize = 32;

/// The form body as a JSON object, or why it cannot be read.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| format!("Invalid form body: {e}"))?;
    let mut root = Map::new();
    for (key, value) in pairs {
        let (segments, append) = split_key(&key)?;
        insert(&mut root, &segments, append, Value::String(value))?;
    }
    Ok(Value::Object(root))
}

/// `a[b][c]` → (`["a", "b", "c"]`, false); `a[]` → (`["a"]`, true).
fn split_key(key: &str) -> Result<(Vec<String>, bool), String> {
    let (head, mut rest) = match key.find('[') {
        Some(i) if key.ends_with(']') && i > 0 => (&key[..i], &key[i..]),
        _ => return Ok((vec![key.to_string()], false)),
    };
    let mut segments = vec![head.to_string()];
    let mut append = false;
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Ok((vec![key.to_string()], false));
        };
        let segment = &inner[..end];
        rest = &inner[end + 1..];
        if segment.is_empty() {
            if !rest.is_empty() {
                return Err(format!("Invalid form key '{key}': [] must come last"));
            }
            append = true;
        } else {
            segments.push(segment.to_string());
        }
        if segments.len() > MAX_DEPTH {
            return Err(format!("Form key '{key}' is nested too deeply"));
        }
    }
    if !rest.is_empty() {
        return Ok((vec![key.to_string()], false));
    }
    Ok((segments, append))
}

fn insert(
    map: &mut Map<String, Value>,
    path: &[String],
    append: bool,
    value: Value,
) -> Result<(), String> {
    let (first, rest) = path.split_first().expect("a key has a segment");
    if rest.is_empty() {
        match map.get_mut(first) {
            None if append => {
                map.insert(first.clone(), Value::Array(vec![value]));
            }
            None => {
                map.insert(first.clone(), value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(Value::Object(_)) => {
                return Err(format!("Form key '{first}' is both a value and a group"));
            }
            Some(existing) => {
                let earlier = existing.take();
                *existing = Value::Array(vec![earlier, value]);
            }
        }
        return Ok(());
    }
    let child = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(inner) => insert(inner, rest, append, value),
        _ => Err(format!("Form key '{first}' is both a value and a group")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_nested_and_repeated_keys() {
        let body = b"email=Ada%40Example.com&customer[name]=Ada+L&items[0][sku]=A1&tag[]=x&tag[]=y&n=1&n=2";
        assert_eq!(
            to_json(body).unwrap(),
            json!({
                "email": "Ada@Example.com",
                "customer": {"name": "Ada L"},
                "items": {"0": {"sku": "A1"}},
                "tag": ["x", "y"],
                "n": ["1", "2"],
            })
        );
    }

    #[test]
    fn odd_keys_are_kept_whole_or_refused() {
        assert_eq!(to_json(b"a[b=1").unwrap(), json!({"a[b": "1"}));
        assert!(to_json(b"a=1&a[b]=2").is_err());
    }
}
