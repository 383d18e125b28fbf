//! Events: every way an event gets in (direct API, v1 async API, event sources), the
//! event log, declared patterns and trigger tracking.

pub mod api;
pub mod ingest;
pub mod log;
pub mod occurrence;
pub mod pages;
pub mod patterns;
pub mod sources;
pub mod triggers;
pub mod v1;
pub mod v1_sync;

use serde_json::{Map, Value};

use crate::config::LimitsConfig;

/// Checks an event name: 1 to 120 characters, no control characters.
pub fn check_event_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Event name is required".into());
    }
    if name.chars().count() > 120 {
        return Err("Event name must be at most 120 characters".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("Event name must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// Checks an arbitrary JSON properties object against the configured limits.
/// `what` names the field in the error (e.g. `eventProperties`).
pub fn check_properties(
    value: &Value,
    what: &str,
    limits: &LimitsConfig,
) -> Result<Map<String, Value>, String> {
    let Value::Object(map) = value else {
        return Err(format!("{what} must be an object"));
    };
    check_value(value, &Path::Root(what), 1, limits)?;
    Ok(map.clone())
}

/// Where a value sits in a property tree, rendered (`eventProperties.items.0`) only when
/// it is named in an error, so valid input costs no formatting.
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}.{i}"),
        }
    }
}

fn check_value(
    value: &Value,
    path: &Path<'_>,
    depth: usize,
    limits: &LimitsConfig,
) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if depth > limits.max_depth {
                return Err(format!(
                    "{path} is nested deeper than {} levels",
                    limits.max_depth
                ));
            }
            for (key, v) in map {
                if key.len() > 256 {
                    return Err(format!("{path} has a key longer than 256 bytes"));
                }
                check_value(v, &Path::Key(path, key), depth + 1, limits)?;
            }
        }
        Value::Array(items) => {
            if depth > limits.max_depth {
                return Err(format!(
                    "{path} is nested deeper than {} levels",
                    limits.max_depth
                ));
            }
            for (i, v) in items.iter().enumerate() {
                check_value(v, &Path::Index(path, i), depth + 1, limits)?;
            }
        }
        Value::String(s) if s.len() > limits.max_string_bytes => {
            return Err(format!(
                "{path} is longer than {} bytes",
                limits.max_string_bytes
            ));
        }
        _ => {}
    }
    Ok(())
}
