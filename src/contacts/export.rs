//! CSV export of contacts.

use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::auth::extract::ApiCaller;
use crate::http::ApiError;

/// `GET /api/contacts/export`.
pub async fn csv_api(
    _state: web::Data<AppState>,
    _caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("not yet"))
}
