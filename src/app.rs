//! Builds the shared state and the actix application, and runs the server.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::auth::{AuthError, accounts, sessions, setup};
use crate::config::Config;
use crate::http::routes::{Access, RouteSpec, RouteTable, Routes};
use crate::http::state::AppState;
use crate::http::{ApiError, idempotency, limits, metrics};
use crate::jobs::scheduler::{self};
use crate::jobs::{self, ClaimedJob, JobKind};
use crate::store::Store;
use crate::ui::PageError;

/// Declares every route, in the order the router tries them: each pattern with a
/// variable costs a regex match, so the ingest endpoints, the busiest by far, come first.
fn declare(r: &mut Routes<'_>) {
    crate::events::api::routes(r);
    crate::events::v1::routes(r);
    crate::events::sources::hook::routes(r);
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
    crate::contacts::api::routes(r);
    crate::contacts::pages::routes(r);
    crate::events::pages::routes(r);
    crate::templates::api::routes(r);
    crate::templates::pages::routes(r);
    crate::automations::api::routes(r);
    crate::automations::pages::routes(r);
    crate::delivery::pages::routes(r);
    crate::delivery::unsubscribe::routes(r);
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

/// Prints the setup link when nobody can sign in yet.
async fn announce_setup(state: &AppState) -> Result<(), AuthError> {
    if state.store.read(accounts::any_user)? {
        return Ok(());
    }
    let ttl = state.config.auth.setup_link_ttl_minutes as i64 * 60_000;
    let token = state
        .store
        .write(move |conn| setup::issue_token(conn, ttl))
        .await?;
    let link = format!("{}/setup/{token}", state.config.base_url());
    tracing::warn!(%link, "no accounts yet: open the setup link to create the owner account (valid {} minutes, works once)", state.config.auth.setup_link_ttl_minutes);
    Ok(())
}

const MAINTENANCE_EVERY_MS: i64 = 3_600_000;

/// Makes sure one maintenance job is queued.
async fn ensure_maintenance(state: &AppState) -> Result<(), crate::store::StoreError> {
    let attempts = state.config.jobs.max_attempts;
    state
        .store
        .write(move |conn| {
            let queued: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = 'maintenance' AND status != 'failed')",
                [],
                |r| r.get(0),
            )?;
            if !queued {
                jobs::enqueue(conn, None, &JobKind::Maintenance, crate::kinds::time::now_ms(), attempts)?;
            }
            Ok(())
        })
        .await
}

/// Hourly clean-up: expired sessions, idempotency records and event-source deliveries
/// past their retention; then schedules itself again.
pub async fn maintenance(state: &web::Data<AppState>, job: &ClaimedJob) -> Result<(), String> {
    let job = job.clone();
    let attempts = state.config.jobs.max_attempts;
    state
        .store
        .write(move |conn| -> Result<(), AuthError> {
            sessions::purge_expired(conn)?;
            idempotency::purge(conn)?;
            let now = crate::kinds::time::now_ms();
            let before = now - crate::events::sources::store::DELIVERY_RETENTION_MS;
            crate::events::sources::store::prune_deliveries(conn, before, 50_000)?;
            let next = crate::kinds::time::now_ms() + MAINTENANCE_EVERY_MS;
            jobs::enqueue(conn, None, &JobKind::Maintenance, next, attempts)?;
            jobs::complete(conn, &job)?.map_err(|stale| AuthError::Invalid(stale.to_string()))
        })
        .await
        .map_err(|e| e.to_string())
}

/// Runs the HTTP server until SIGINT / SIGTERM, then drains and stops.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.store)?;
    let listen = config.server.listen;
    let workers = config.server.workers;
    let max_body = config.server.max_body_bytes;
    let shutdown = config.server.shutdown_timeout_secs;
    let request_timeout = std::time::Duration::from_secs(config.server.request_timeout_secs);
    crate::jobs::set_max_attempts(config.jobs.max_attempts);
    let mailer = crate::delivery::mailer::Mailer::new(&config.smtp, &config.store.data_dir)?;
    let link_secret = store
        .write(crate::delivery::unsubscribe::load_secret)
        .await?;
    crate::delivery::unsubscribe::init_links(config.base_url(), link_secret.clone());
    let state = web::Data::new(AppState::new(
        config,
        store,
        mailer,
        link_secret,
        RouteTable::new(route_specs()),
    ));
    announce_setup(&state).await?;
    state.store.write(sessions::purge_expired).await?;
    let released = scheduler::recover(&state).await?;
    if released > 0 {
        tracing::info!(
            released,
            "resumed jobs left running by the previous process"
        );
    }
    ensure_maintenance(&state).await?;
    actix_web::rt::spawn(scheduler::run(state.clone()));
    actix_web::rt::spawn(scheduler::run_triggers(state.clone()));
    actix_web::rt::spawn(scheduler::run_timers(state.clone()));

    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(ErrorHandlers::new().default_handler(framework_errors))
            .wrap(from_fn(crate::http::timeout::body_deadline))
            .wrap(from_fn(crate::http::guard::enforce))
            .wrap(from_fn(crate::http::security_headers::add))
            .wrap(from_fn(metrics::record))
            .configure(|cfg| configure(cfg, max_body))
    })
    .shutdown_timeout(shutdown)
    .client_request_timeout(request_timeout)
    .bind(listen)
    .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    if workers > 0 {
        server = server.workers(workers);
    }
    tracing::info!(%listen, base_url = %state.config.base_url(), "herald is listening");
    server.run().await?;
    tracing::info!("herald stopped");
    Ok(())
}
