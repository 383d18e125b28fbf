//! `GET /api/contacts/{id}/export`: the personal-data export as JSON, to hand to the
//! person who asked for it.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::export::{ExportError, personal_data};
use crate::auth::policy::Need;
use crate::http::ApiError;
use crate::http::extract::ApiCaller;
use crate::http::routes::{Access, Routes};
use crate::http::state::AppState;

/// Routes of this module.
pub fn routes(r: &mut Routes<'_>) {
    r.get("/api/contacts/{id}/export", Access::Api(Need::Read), export);
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Contact(e) => e.into(),
            ExportError::List(e) => e.into(),
            ExportError::Form(e) => e.into(),
            ExportError::Store(e) => e.into(),
        }
    }
}

async fn export(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ws = caller.workspace_id;
    let uid = id.into_inner();
    let file = format!("attachment; filename=\"contact-{uid}.json\"");
    let data = state
        .store
        .read_async(move |conn| personal_data(conn, ws, &uid))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_DISPOSITION, file))
        .json(data))
}
