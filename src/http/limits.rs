//! Body size and payload parsing limits, with errors in the caller's language:
//! JSON for `/api`, a friendly page for the UI.

use actix_web::error::{JsonPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use super::ApiError;
use crate::ui::PageError;

/// JSON extractor settings for the API: limit and `{statusCode, message, error}` failures.
pub fn json_config(max_body: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is {length} bytes; the limit is {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::bad_request(format!("Invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(format!("Malformed JSON: {e}")),
        other => ApiError::bad_request(format!("Could not read request body: {other}")),
    }
}

/// Form extractor settings for the UI: limit and a friendly error page.
pub fn form_config(max_body: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(max_body)
        .error_handler(|err, _req: &HttpRequest| {
            let message = match err {
                UrlencodedError::Overflow { .. } | UrlencodedError::UnknownLength => {
                    "The form was too large to accept.".to_string()
                }
                UrlencodedError::ContentType => "The form was not sent as a form.".to_string(),
                other => format!("The form could not be read: {other}"),
            };
            PageError::BadRequest(message).into()
        })
}

/// Raw body limit for everything else.
pub fn payload_config(max_body: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(max_body)
}
