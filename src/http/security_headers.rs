//! Security headers on every response, and a Content-Security-Policy on every HTML page:
//! scripts only from Herald's own files (no inline script, no `on…=` handlers), styles
//! only from app.css, nothing may frame Herald (clickjacking), forms post only to Herald.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// The policy for every page.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'; object-src 'none'";

/// Pages that show an email in a sandboxed `srcdoc` iframe (template editor, outbox):
/// the frame inherits the page's policy, and email HTML is inline-styled with remote
/// images. The frame is `sandbox=""` (no scripts, own origin), and scripts stay locked.
pub const PREVIEW_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; frame-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Whether a path shows an email preview (see [`PREVIEW_POLICY`]).
fn shows_email(path: &str) -> bool {
    path.starts_with("/templates") || path.starts_with("/outbox")
}

/// Middleware adding `nosniff`, `Referrer-Policy`, `X-Frame-Options` to every response
/// and the page's Content-Security-Policy to HTML ones.
pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let preview = shows_email(req.path());
    let mut response = next.call(req).await?;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if preview { PREVIEW_POLICY } else { PAGE_POLICY };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    Ok(response)
}
