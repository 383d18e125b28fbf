//! Reading JSON request bodies by hand, for endpoints that need the raw bytes too
//! (idempotency hashes them) or want their own wording for type errors.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde_json::{Map, Value};

use super::ApiError;

/// Parses a JSON object body, checking the content type first.
pub fn object_body(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Malformed JSON: {e}"))),
    }
}

/// Refuses keys outside `allowed`, naming the first unknown one.
pub fn only_fields(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::bad_request(format!(
            "Unknown field '{unknown}' in {what} (allowed: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// An optional string field; `null` counts as absent.
pub fn opt_string(
    map: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "{what}{key} must be a string"
        ))),
    }
}
