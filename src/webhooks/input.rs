//! Reading an endpoint's settings from a request body (the API's JSON, or the settings
//! form turned into the same shape), with the seed's defaults and every mistake named by
//! its field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::store::EndpointInput;
use super::{Endpoint, EndpointStatus, WebhookError, catalogue, signing};
use crate::net::ssrf;

/// The fields an endpoint body may carry.
pub const FIELDS: &[&str] = &[
    "name",
    "url",
    "events",
    "secret",
    "retryAttempts",
    "timeoutMs",
    "headers",
    "scope",
    "status",
];
const DEFAULT_RETRY_ATTEMPTS: i64 = 3;
const DEFAULT_TIMEOUT_MS: i64 = 10_000;
const MAX_RETRY_ATTEMPTS: i64 = 10;
const TIMEOUT_RANGE: (i64, i64) = (100, 60_000);
const MAX_HEADERS: usize = 10;
/// Headers Herald sets itself, which an endpoint may not replace.
const OWN_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "transfer-encoding",
    "connection",
];

fn text(body: &Map<String, Value>, key: &str) -> Result<Option<String>, WebhookError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(WebhookError::invalid(key, "must be a string")),
    }
}

fn int(
    body: &Map<String, Value>,
    key: &str,
    range: (i64, i64),
) -> Result<Option<i64>, WebhookError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (range.0..=range.1).contains(&n) => Ok(Some(n)),
            _ => Err(WebhookError::invalid(
                key,
                format!("must be a whole number from {} to {}", range.0, range.1),
            )),
        },
    }
}

/// A URL Herald could call: http(s), a host, at most 2,048 bytes; an address literal
/// outside the public internet is refused unless private targets are allowed (names are
/// checked when called, as they may resolve differently then).
pub fn check_url(url: &str, allow_private: bool) -> Result<String, WebhookError> {
    if url.is_empty() {
        return Err(WebhookError::invalid("url", "is required"));
    }
    if url.len() > 2048 {
        return Err(WebhookError::invalid("url", "is longer than 2048 bytes"));
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| WebhookError::invalid("url", "is not a valid URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(WebhookError::invalid(
            "url",
            "must start with http:// or https://",
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| WebhookError::invalid("url", "has no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if !allow_private
        && let Ok(ip) = bare.parse::<std::net::IpAddr>()
        && let Some(range) = ssrf::non_global(ip)
    {
        return Err(WebhookError::invalid(
            "url",
            format!("points at {ip}, which is {range}, not a public address"),
        ));
    }
    Ok(url.to_string())
}

fn headers(value: Option<&Value>) -> Result<Option<BTreeMap<String, String>>, WebhookError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(WebhookError::invalid(
                "headers",
                "must be an object of header names to values",
            ));
        }
    };
    if map.len() > MAX_HEADERS {
        return Err(WebhookError::invalid(
            "headers",
            format!("may hold at most {MAX_HEADERS} headers"),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in map {
        let field = format!("headers.{name}");
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(WebhookError::invalid(field, "is not a valid header name"));
        }
        if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(WebhookError::invalid(field, "is set by Herald itself"));
        }
        let Some(value) = value.as_str() else {
            return Err(WebhookError::invalid(field, "must be a string"));
        };
        if value.len() > 1024 || value.bytes().any(|b| b < 0x20 && b != b'\t') {
            return Err(WebhookError::invalid(
                field,
                "must be one line of at most 1024 bytes",
            ));
        }
        out.insert(name.clone(), value.to_string());
    }
    Ok(Some(out))
}

/// The scope: general, or one channel (Herald has no channels yet, so none is found).
fn scope(value: Option<&Value>) -> Result<Option<Option<String>>, WebhookError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => match map.get("type").and_then(Value::as_str) {
            Some("general") => Ok(Some(None)),
            Some("channel") => Err(WebhookError::invalid(
                "scope.channelId",
                "names no channel of this workspace",
            )),
            _ => Err(WebhookError::invalid(
                "scope.type",
                "must be \"general\" or \"channel\"",
            )),
        },
        Some(_) => Err(WebhookError::invalid(
            "scope",
            "must be an object such as {\"type\": \"general\"}",
        )),
    }
}

fn status(body: &Map<String, Value>) -> Result<Option<EndpointStatus>, WebhookError> {
    match text(body, "status")? {
        None => Ok(None),
        Some(s) => EndpointStatus::parse(&s)
            .map(Some)
            .ok_or_else(|| WebhookError::invalid("status", "must be \"active\" or \"disabled\"")),
    }
}

/// The endpoint as it is, turned on or off (enable / disable in the API and the UI).
pub fn with_status(current: &Endpoint, status: EndpointStatus) -> EndpointInput {
    EndpointInput {
        name: current.name.clone(),
        url: current.url.clone(),
        events: current.events.clone(),
        channel: current.channel.clone(),
        headers: current.headers.clone(),
        secret: current.secret.clone(),
        retry_attempts: current.retry_attempts,
        timeout_ms: current.timeout_ms,
        status,
    }
}

/// The endpoint a body describes: every field over `base` (the stored endpoint, for an
/// update), or the seed's defaults for a new one.
pub fn parse(
    body: &Map<String, Value>,
    base: Option<&Endpoint>,
    allow_private: bool,
) -> Result<EndpointInput, WebhookError> {
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(WebhookError::invalid(
            unknown.chars().take(64).collect::<String>(),
            format!("is not a webhook field (allowed: {})", FIELDS.join(", ")),
        ));
    }
    let name = match (text(body, "name")?, base) {
        (Some(n), _) => n,
        (None, Some(b)) => b.name.clone(),
        (None, None) => String::new(),
    };
    if name.is_empty() {
        return Err(WebhookError::invalid("name", "is required"));
    }
    if name.chars().count() > 200 {
        return Err(WebhookError::invalid(
            "name",
            "is longer than 200 characters",
        ));
    }
    let url = match (text(body, "url")?, base) {
        (Some(u), _) => check_url(&u, allow_private)?,
        (None, Some(b)) => b.url.clone(),
        (None, None) => return Err(WebhookError::invalid("url", "is required")),
    };
    let events = match (body.get("events"), base) {
        (None, Some(b)) => b.events.clone(),
        (v, _) => catalogue::check(v)?,
    };
    let secret = match (text(body, "secret")?, base) {
        (Some(s), _) if s.len() < 16 || s.len() > 256 => {
            return Err(WebhookError::invalid(
                "secret",
                "must be 16 to 256 characters",
            ));
        }
        (Some(s), _) => s,
        (None, Some(b)) => b.secret.clone(),
        (None, None) => signing::new_secret(),
    };
    Ok(EndpointInput {
        name,
        url,
        events,
        channel: scope(body.get("scope"))?.unwrap_or_else(|| base.and_then(|b| b.channel.clone())),
        headers: headers(body.get("headers"))?
            .unwrap_or_else(|| base.map(|b| b.headers.clone()).unwrap_or_default()),
        secret,
        retry_attempts: int(body, "retryAttempts", (0, MAX_RETRY_ATTEMPTS))?
            .unwrap_or_else(|| base.map_or(DEFAULT_RETRY_ATTEMPTS, |b| b.retry_attempts)),
        timeout_ms: int(body, "timeoutMs", TIMEOUT_RANGE)?
            .unwrap_or_else(|| base.map_or(DEFAULT_TIMEOUT_MS, |b| b.timeout_ms)),
        status: status(body)?.unwrap_or_else(|| base.map_or(EndpointStatus::Active, |b| b.status)),
    })
}
