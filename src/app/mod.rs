//! Wiring: the top layer. It builds the shared state, declares every route, hands the
//! features to the job loops and the store's hooks, and runs the server. Nothing imports it.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::http::routes::{Access, RouteSpec, Routes};
use crate::http::{ApiError, limits};
use crate::ui::PageError;

mod clock_file;
pub mod jobs;
mod run;

pub use run::{InProcess, serve, start_in_process};

/// Declares every route, in the order the router tries them: each pattern with a
/// variable costs a regex match, so the ingest endpoints, the busiest by far, come first.
fn declare(r: &mut Routes<'_>) {
    crate::events::api::routes(r);
    crate::events::v1::routes(r);
    crate::events::sources::hook::routes(r);
    crate::forms::public::routes(r);
    crate::events::sources::api::routes(r);
    crate::events::sources::pages::routes(r);
    r.get(
        "/assets/{path:.*}",
        Access::Public,
        crate::ui::assets::serve,
    );
    crate::ops::routes(r);
    crate::auth::pages::routes(r);
    crate::workspaces::routes(r);
    crate::settings::routes(r);
    crate::webhooks::pages::routes(r);
    crate::lists::api::routes(r);
    crate::segments::api::routes(r);
    crate::contacts::api::routes(r);
    crate::contacts::pages::routes(r);
    crate::lists::pages::routes(r);
    crate::segments::pages::routes(r);
    crate::forms::api::routes(r);
    crate::forms::pages::routes(r);
    crate::events::pages::routes(r);
    crate::templates::api::routes(r);
    crate::templates::pages::routes(r);
    crate::automations::api::routes(r);
    crate::automations::pages::routes(r);
    crate::delivery::pages::routes(r);
    crate::delivery::unsubscribe::routes(r);
    crate::lists::public::routes(r);
    crate::privacy::api::routes(r);
    crate::webhooks::api::routes(r);
    crate::channels::api::routes(r);
    crate::channels::pages::routes(r);
    crate::delivery::api::routes(r);
    crate::channels::generic::routes(r);
    crate::channels::callbacks::routes(r);
}

/// The route table, as declared.
pub fn route_specs() -> Vec<RouteSpec> {
    let mut r = Routes::recording();
    declare(&mut r);
    r.into_specs()
}

/// Registers every route and the request-body limits.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(limits::json_config(max_body))
        .app_data(limits::form_config(max_body))
        .app_data(limits::payload_config(max_body));
    declare(&mut Routes::registering(cfg));
    cfg.default_service(web::to(not_found));
}

/// Unknown routes: JSON under `/api`, a friendly page elsewhere.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    if req.path().starts_with("/api/") || req.path() == "/api" {
        Err(ApiError::not_found(format!("No route for {} {}", req.method(), req.path())).into())
    } else {
        Err(PageError::NotFound.into())
    }
}

/// Turns actix's own bare 405s and similar into the right family's shape.
fn framework_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already_shaped = res.headers().get("content-type").is_some_and(|v| {
        v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
    });
    if already_shaped {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, _) = res.into_parts();
    let response = if req.path().starts_with("/api") {
        actix_web::ResponseError::error_response(&ApiError::new(
            status,
            status.canonical_reason().unwrap_or("Error"),
        ))
    } else {
        let page = match status {
            StatusCode::NOT_FOUND => PageError::NotFound,
            _ => PageError::BadRequest(status.canonical_reason().unwrap_or("Error").to_string()),
        };
        actix_web::ResponseError::error_response(&page)
    };
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
