//! CSV import of contacts, in durable chunks.

use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::auth::extract::ApiCaller;
use crate::http::ApiError;
use crate::jobs::ClaimedJob;

/// `POST /api/contacts/import`.
pub async fn upload_api(
    _state: web::Data<AppState>,
    _caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("not yet"))
}

/// `GET /api/contacts/imports/{id}`.
pub async fn status_api(
    _state: web::Data<AppState>,
    _caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("not yet"))
}

/// Processes the next chunk of an import.
pub async fn process_chunk(
    _state: &web::Data<AppState>,
    _job: &ClaimedJob,
    _import_id: i64,
) -> Result<(), String> {
    Ok(())
}

/// Records that an import gave up.
pub async fn mark_failed(_state: &web::Data<AppState>, _import_id: i64, _error: &str) {}
