//! How the public endpoint answers: JSON (`{statusCode, message, error}` on failure) to
//! scripts, a page to browsers; CORS headers for the origins a form accepts; and the
//! Content-Security-Policy of its pages, which lets the form post (and be redirected) only
//! where the form says.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use maud::Markup;

use super::{Form, Via};
use crate::http::ApiError;
use crate::http::state::AppState;

/// The CORS answer a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Not a cross-origin request (no `Origin`, or Herald's own): no CORS headers.
    None,
    /// Any origin may read the answer (`*`; no credentials are ever involved).
    Any,
    /// This origin may.
    Origin(String),
}

impl Cors {
    /// Adds the headers to a response.
    pub fn apply(&self, response: &mut HttpResponse) {
        let value = match self {
            Cors::None => return,
            Cors::Any => HeaderValue::from_static("*"),
            Cors::Origin(origin) => match HeaderValue::from_str(origin) {
                Ok(v) => v,
                Err(_) => return,
            },
        };
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
        if matches!(self, Cors::Origin(_)) {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

fn header_of(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether `origin` is Herald's own: `server.base_url`'s, or the one the request came to.
fn own_origin(state: &AppState, req: &HttpRequest, origin: &str) -> bool {
    let base = state.config.base_url();
    let base_origin = base
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")));
    if base_origin.is_some_and(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    header_of(req, header::HOST).is_some_and(|host| {
        origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
    })
}

/// Who is posting and whether the form lets them: the CORS answer and the door, or the
/// refused origin.
pub fn cors_for(state: &AppState, req: &HttpRequest, form: &Form) -> Result<(Cors, Via), String> {
    let Some(origin) = header_of(req, header::ORIGIN).map(|o| o.trim().trim_end_matches('/'))
    else {
        return Ok((Cors::None, Via::Direct));
    };
    if own_origin(state, req, origin) {
        return Ok((Cors::None, Via::Hosted));
    }
    if form.def.any_origin() {
        return Ok((Cors::Any, Via::Embed));
    }
    if form.def.allows_origin(origin) {
        return Ok((Cors::Origin(origin.to_string()), Via::Embed));
    }
    Err(origin.chars().take(200).collect())
}

/// Whether the caller wants JSON: it sent JSON, or it asks for JSON rather than a page.
pub fn wants_json(req: &HttpRequest) -> bool {
    let sent_json = header_of(req, header::CONTENT_TYPE).is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    let accept = header_of(req, header::ACCEPT).unwrap_or("");
    sent_json || (accept.contains("application/json") && !accept.contains("text/html"))
}

/// The policy of a public form page: Herald's own, except that the form may also post
/// to (and be redirected to) the origin of its redirect address.
pub fn page_policy(form: &Form) -> String {
    let redirect = form
        .def
        .redirect_url
        .as_deref()
        .and_then(|url| url.split_once("://"))
        .map(|(scheme, rest)| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            format!(" {scheme}://{host}")
        })
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'{redirect}; object-src 'none'"
    )
}

/// How one request is answered: as JSON or a page, with its CORS headers.
pub struct Answer {
    pub json: bool,
    pub cors: Cors,
}

impl Answer {
    /// Adds the CORS headers and hands the response back.
    pub fn send(&self, mut response: HttpResponse) -> HttpResponse {
        self.cors.apply(&mut response);
        response
    }

    /// An API-family error, with CORS headers.
    pub fn error(&self, error: ApiError) -> HttpResponse {
        self.send(error.error_response())
    }

    /// A page with `status`, under the form's policy.
    pub fn page(&self, form: &Form, status: StatusCode, markup: Markup) -> HttpResponse {
        let response = HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONTENT_SECURITY_POLICY, page_policy(form)))
            .body(markup.into_string());
        self.send(response)
    }

    /// The failure as JSON, or the page: whichever this caller reads.
    pub fn either(
        &self,
        form: &Form,
        error: ApiError,
        page: impl FnOnce() -> Markup,
    ) -> HttpResponse {
        if self.json {
            return self.error(error);
        }
        let status = error.status;
        let mut response = self.page(form, status, page());
        for (name, value) in error.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
