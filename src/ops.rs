//! Operations endpoints: health for load balancers, metrics for Prometheus.

use crate::http::routes::{Access, Routes};
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::state::AppState;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/healthz", Access::Public, healthz)
        .get("/metrics", Access::Public, metrics);
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.healthy() {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": e.to_string() })),
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state))
}
