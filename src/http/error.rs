//! The JSON error shapes: the `/api` family's `{statusCode, message, error}`, and the
//! `{success: false, error: {code, message}}` envelope of the Sendkit-shaped `/v1` family.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::store::StoreError;

/// An API failure rendered as `{statusCode, message, error[, details]}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Option<Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Rendered in the `{success: false, error}` envelope instead of the flat shape.
    pub enveloped: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: None,
            headers: Vec::new(),
            enveloped: false,
        }
    }
    /// The same error in the `{success: false, error: {code, message, …}}` envelope.
    pub fn enveloped(mut self) -> Self {
        self.enveloped = true;
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message).with_header(header::WWW_AUTHENTICATE, "Bearer")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.enveloped {
            return self.envelope_response();
        }
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "message": self.message,
            "error": self.status.canonical_reason().unwrap_or("Error"),
        });
        if let Some(details) = &self.details {
            body["details"] = details.clone();
        }
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.json(body)
    }
}

impl ApiError {
    /// The machine-readable code of the envelope, from the status.
    fn code(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 422 => "VALIDATION_ERROR",
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            404 => "NOT_FOUND",
            409 => "CONFLICT",
            413 => "PAYLOAD_TOO_LARGE",
            415 => "UNSUPPORTED_MEDIA_TYPE",
            429 => "RATE_LIMITED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL_ERROR",
        }
    }

    fn envelope_response(&self) -> HttpResponse {
        let mut error = json!({
            "code": self.code(),
            "message": self.message,
            "statusCode": self.status.as_u16(),
        });
        if let Some(Value::Object(details)) = &self.details {
            for (k, v) in details {
                error[k] = v.clone();
            }
        }
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.json(json!({"success": false, "error": error}))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure behind an API request");
        if e.is_unavailable() {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable, try again",
            )
        } else {
            ApiError::internal()
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(m) => ApiError::bad_request(m),
            AuthError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            AuthError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            AuthError::Store(e) => e.into(),
        }
    }
}
