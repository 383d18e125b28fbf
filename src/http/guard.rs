//! The guard: looks each request up in the route table and applies its access rule
//! before any handler runs. It authenticates the caller once (API key or session), asks
//! the policy whether that caller may use the route, demands a CSRF proof from
//! cookie-authenticated API calls that change state, and hands the caller to the
//! handler's extractor through the request's extensions.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};

use super::extract::{self, SignedIn};
use crate::auth::policy::{Caller, permits};
use crate::http::ApiError;
use crate::http::routes::{Access, RouteSpec};
use crate::http::state::AppState;
use crate::ui::PageError;

/// Middleware applying the route table's rule to every request.
pub async fn enforce<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    if let Some(spec) = state.routes.find(req.method(), req.path())
        && let Err(refused) = admit(&state, spec, &req)
    {
        // Answered here, so metrics and logs see the refusal like any other response.
        return Ok(req.error_response(refused).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn admit(state: &AppState, spec: &RouteSpec, req: &ServiceRequest) -> Result<(), Error> {
    match spec.access {
        Access::Public | Access::Token | Access::Bearer | Access::Signed => Ok(()),
        Access::Api(need) => admit_api(state, spec, need, req).map_err(|e| {
            if spec.enveloped() {
                e.enveloped().into()
            } else {
                e.into()
            }
        }),
        Access::Page(need) => {
            let session = match extract::session_of(state, req.request()) {
                Ok(Some(session)) => session,
                Ok(None) => {
                    return Err(
                        PageError::LoginRequired(extract::return_path(req.request())).into(),
                    );
                }
                Err(e) => return Err(PageError::from(e).into()),
            };
            if !permits(Caller::Person(session.role), need) {
                return Err(
                    PageError::Forbidden("Only owners and admins can do this.".into()).into(),
                );
            }
            req.extensions_mut().insert(SignedIn(session));
            Ok(())
        }
    }
}

fn admit_api(
    state: &AppState,
    spec: &RouteSpec,
    need: crate::auth::policy::Need,
    req: &ServiceRequest,
) -> Result<(), ApiError> {
    let caller = extract::authenticate(req.request())?;
    let who = match caller.role {
        Some(role) => Caller::Person(role),
        None => Caller::Key,
    };
    if !permits(who, need) {
        return Err(ApiError::forbidden("Only owners and admins can do this"));
    }
    if spec.changes_state
        && let Some(token) = &caller.csrf_token
        && !cookie_call_is_same_origin(state, req.request(), token)
    {
        return Err(ApiError::forbidden(
            "A request signed in by cookie must come from Herald's own pages: send X-CSRF-Token with the session's token",
        ));
    }
    req.extensions_mut().insert(caller);
    Ok(())
}

/// Whether a state-changing API call authenticated only by the session cookie proves it
/// was made by Herald's own pages: the session's CSRF token in `X-CSRF-Token`, or a
/// browser's own word that the request is same-origin (`Sec-Fetch-Site`, else `Origin`
/// equal to Herald's origin). Whatever the content type, a cross-site page can do none
/// of these.
pub fn cookie_call_is_same_origin(state: &AppState, req: &HttpRequest, csrf_token: &str) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(sent) = header("x-csrf-token") {
        return crate::ui::csrf::verify_session(csrf_token, sent.trim());
    }
    if let Some(site) = header("sec-fetch-site") {
        return site.eq_ignore_ascii_case("same-origin");
    }
    let Some(origin) = header("origin") else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    own_origin(state, req).is_some_and(|own| {
        // Without a base URL Herald cannot know whether a proxy in front speaks https.
        let alternative = own.replacen("http://", "https://", 1);
        origin.eq_ignore_ascii_case(&own)
            || (state.config.server.base_url.is_empty()
                && origin.eq_ignore_ascii_case(&alternative))
    })
}

/// Herald's origin, `scheme://host`: from `server.base_url` when set, else `Host`.
fn own_origin(state: &AppState, req: &HttpRequest) -> Option<String> {
    let base = state.config.server.base_url.trim();
    if !base.is_empty() {
        let (scheme, rest) = base.split_once("://")?;
        let host = rest.split('/').next()?;
        return Some(format!("{scheme}://{host}"));
    }
    let host = req.headers().get("host")?.to_str().ok()?;
    Some(format!("http://{host}"))
}
